// esc-eval-peer runs Pulumi's own ESC evaluator (github.com/pulumi/esc/eval) on one case and
// prints what it produced as JSON, for esc-eval's differential test.
//
// Usage: esc-eval-peer DIR [ENV]
//
// DIR holds ENV.yaml (default "env") and the environments it imports, as NAME.yaml. The output
// is one JSON object: "load", "check" and "eval" diagnostics (severity, summary, path), and the
// checked and evaluated values as plain JSON (secrets shown, numbers as {"number": "<text>"}).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/pulumi/esc"
	"github.com/pulumi/esc/eval"
	"github.com/pulumi/esc/syntax"
)

type environments struct{ dir string }

func (e environments) LoadEnvironment(_ context.Context, name string) ([]byte, eval.Decrypter, error) {
	b, err := os.ReadFile(filepath.Join(e.dir, name+".yaml"))
	if err != nil {
		return nil, nil, fmt.Errorf("environment %q not found", name)
	}
	return b, rot128{}, nil
}

// rot128 is the conformance corpus's decrypter.
type rot128 struct{}

func (rot128) Decrypt(_ context.Context, c []byte) ([]byte, error) {
	out := make([]byte, len(c))
	for i, b := range c {
		out[i] = b + 128
	}
	return out, nil
}

type noProviders struct{}

func (noProviders) LoadProvider(_ context.Context, name string) (esc.Provider, error) {
	return nil, fmt.Errorf("unknown provider %q", name)
}

func (noProviders) LoadRotator(_ context.Context, name string) (esc.Rotator, error) {
	return nil, fmt.Errorf("unknown rotator %q", name)
}

type diag struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Path     string `json:"path,omitempty"`
}

func diagsOf(ds syntax.Diagnostics) []diag {
	out := []diag{}
	for _, d := range ds {
		sev := "warning"
		if d.Severity == hcl.DiagError {
			sev = "error"
		}
		out = append(out, diag{Severity: sev, Summary: d.Summary, Path: d.Path})
	}
	return out
}

// plain is the environment's values as JSON with secrets shown and unknowns as "[unknown]",
// every number written {"number": "<its text>"} so that its spelling is compared too (and so
// that +Inf or NaN can be written at all).
func plain(env *esc.Environment) any {
	if env == nil {
		return nil
	}
	return typed(esc.NewValue(env.Properties))
}

func typed(v esc.Value) any {
	if v.Unknown {
		return "[unknown]"
	}
	switch r := v.Value.(type) {
	case json.Number:
		return map[string]string{"number": string(r)}
	case []esc.Value:
		out := make([]any, len(r))
		for i, e := range r {
			out[i] = typed(e)
		}
		return out
	case map[string]esc.Value:
		out := make(map[string]any, len(r))
		for k, e := range r {
			out[k] = typed(e)
		}
		return out
	default:
		return r
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: esc-eval-peer DIR [ENV]")
		os.Exit(2)
	}
	dir, name := os.Args[1], "env"
	if len(os.Args) > 2 {
		name = os.Args[2]
	}
	src, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := map[string]any{}
	decl, loadDiags, err := eval.LoadYAMLBytes(name, src)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out["load"] = diagsOf(loadDiags)
	if !loadDiags.HasErrors() && decl != nil {
		ctx := context.Background()
		envs := environments{dir}
		exec, err := esc.NewExecContext(map[string]esc.Value{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		checked, checkDiags := eval.CheckEnvironment(ctx, name, decl, rot128{}, noProviders{}, envs, exec, true)
		out["check"], out["checkDiags"] = plain(checked), diagsOf(checkDiags)
		evaluated, evalDiags := eval.EvalEnvironment(ctx, name, decl, rot128{}, noProviders{}, envs, exec)
		out["eval"], out["evalDiags"] = plain(evaluated), diagsOf(evalDiags)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, errors.Join(errors.New("encoding the result"), err))
		os.Exit(1)
	}
}
