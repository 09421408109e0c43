package kubelet

import (
	"strings"
	"testing"
)

func TestCommandValidatesFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"a missing kubeconfig is an error", []string{"--dir", "/tmp/x"}, "--kubeconfig is required"},
		{"a missing dir is an error", []string{"--kubeconfig", "k"}, "--dir is required"},
		{"a bad pod CIDR is an error", []string{"--kubeconfig", "k", "--dir", "d", "--pod-cidr", "nope"}, "--pod-cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs(tt.args)
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
