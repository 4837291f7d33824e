// The driver's go.mod requires monis.app/mlog, which the module proxy does not serve. Nothing
// here imports it (only the driver's main and server.go do), but Go reads the go.mod of every
// requirement, so this empty module stands in for it.
module monis.app/mlog

go 1.21
