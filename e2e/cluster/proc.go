package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is one process the suite started: a peer (etcd, kube-apiserver, the driver) or esc-csi.
// Its output goes to <dir>/logs/<name>.log, appended across restarts, and its pid to
// <dir>/pids so that .ci/e2e can end it even if the test binary dies first.
type Proc struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProc starts bin with args and extra environment variables.
func StartProc(dir, name, bin string, args, env []string) (*Proc, error) {
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logs, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "=== %s: %s %q\n", time.Now().UTC().Format(time.RFC3339Nano), bin, args)
	cmd := exec.Command(bin, args...)
	cmd.Env = environ(env)
	cmd.Stdout = out
	cmd.Stderr = out
	// Killed with the test binary (a timeout panic skips every cleanup), in a group of its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if pids, err := os.OpenFile(filepath.Join(dir, "pids"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		fmt.Fprintf(pids, "%d\n", cmd.Process.Pid)
		pids.Close()
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// environ is this process's environment with env applied: "K=V" sets K, "K=" removes it.
func environ(env []string) []string {
	drop := map[string]bool{}
	var set []string
	for _, e := range env {
		if strings.HasSuffix(e, "=") {
			drop[strings.TrimSuffix(e, "=")] = true
		} else {
			set = append(set, e)
		}
	}
	var out []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if !drop[k] {
			out = append(out, e)
		}
	}
	return append(out, set...)
}

// Exited says whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Wait waits at most timeout for the process to end and returns how it ended.
func (p *Proc) Wait(timeout time.Duration) (*os.ProcessState, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s (pid %d) still running after %s", p.Name, p.cmd.Process.Pid, timeout)
	}
}

// Stop sends SIGTERM, waits up to grace, then kills the process group.
func (p *Proc) Stop(grace time.Duration) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := p.Wait(grace); err == nil {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if _, err := p.Wait(10 * time.Second); err != nil {
		return err
	}
	return errors.New(p.Name + " ignored SIGTERM and was killed")
}
