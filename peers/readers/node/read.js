// Reads a mounted file with a Node reader and prints what it read as JSON on stdout.
//
// usage: node read.js dotenv|dotenvx|yaml FILE
//
// dotenv prints dotenv.parse(); dotenvx what dotenvx's parse() sets (its expansion on, its
// default); yaml prints each top-level key as ["str", text], ["num", String(n)],
// ["bool", b] or ["null"].
'use strict'
const fs = require('fs')
const [mode, file] = process.argv.slice(2)
const src = fs.readFileSync(file)
const typed = (v) =>
  v === null ? ['null']
    : typeof v === 'boolean' ? ['bool', v]
      : typeof v === 'number' ? ['num', String(v)]
        : typeof v === 'string' ? ['str', v]
          : ['other', String(v)]
let out
if (mode === 'dotenv') {
  out = require('dotenv').parse(src)
} else if (mode === 'dotenvx') {
  out = require('@dotenvx/dotenvx').parse(src, { processEnv: {} })
} else if (mode === 'yaml') {
  const parsed = require('yaml').parse(src.toString('utf8'))
  out = {}
  for (const [k, v] of Object.entries(parsed)) out[k] = typed(v)
} else {
  throw new Error('unknown mode ' + mode)
}
process.stdout.write(JSON.stringify(out))
