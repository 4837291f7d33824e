// Package mlog is the small part of monis.app/mlog that the Secrets Store CSI Driver uses,
// written over klog. See go.mod for why it exists.
package mlog

import (
	"context"
	"fmt"
	"os"

	"k8s.io/klog/v2"
)

// LogFormat is the format of log lines.
type LogFormat string

// The two formats the driver chooses between. klog writes text either way here.
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Setup prepares logging and returns the function that flushes it.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally checks the verbosity and the format.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("invalid log level %d", level)
	}
	if format != FormatText && format != FormatJSON {
		return fmt.Errorf("invalid log format %q", format)
	}
	return nil
}

// Error logs an error with a message and key-value pairs.
func Error(msg string, err error, keysAndValues ...interface{}) {
	klog.ErrorS(err, msg, keysAndValues...)
}

// Fatal logs an error and exits with status 1.
func Fatal(err error, keysAndValues ...interface{}) {
	klog.ErrorS(err, "fatal error", keysAndValues...)
	klog.Flush()
	os.Exit(1)
}
