// Reads a mounted file with a Go reader and prints what it read as JSON on stdout.
//
// usage: readers dotenv|yaml FILE
//
// dotenv prints the map godotenv.Read returns; yaml (gopkg.in/yaml.v3) prints each top-level
// key as ["str", text], ["num", text], ["bool", b] or ["null"].
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/joho/godotenv"
	"gopkg.in/yaml.v3"
)

func typed(v any) []any {
	switch v := v.(type) {
	case nil:
		return []any{"null"}
	case bool:
		return []any{"bool", v}
	case int:
		return []any{"num", strconv.Itoa(v)}
	case uint64:
		return []any{"num", strconv.FormatUint(v, 10)}
	case float64:
		return []any{"num", strconv.FormatFloat(v, 'g', -1, 64)}
	case string:
		return []any{"str", v}
	default:
		return []any{"other", fmt.Sprintf("%T %v", v, v)}
	}
}

func main() {
	mode, file := os.Args[1], os.Args[2]
	var out any
	switch mode {
	case "dotenv":
		m, err := godotenv.Read(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out = m
	case "yaml":
		src, err := os.ReadFile(file)
		if err != nil {
			panic(err)
		}
		var parsed map[string]any
		if err := yaml.Unmarshal(src, &parsed); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		m := map[string][]any{}
		for k, v := range parsed {
			m[k] = typed(v)
		}
		out = m
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
