package rollout

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseImages(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    map[string]string
		wantErr string
	}{
		{name: "one pair becomes one entry", specs: []string{"app=nginx:1.27"}, want: map[string]string{"app": "nginx:1.27"}},
		{name: "several pairs keep registry ports and digests", specs: []string{"app=reg:5000/app@sha256:abc", "side=proxy:2"},
			want: map[string]string{"app": "reg:5000/app@sha256:abc", "side": "proxy:2"}},
		{name: "a pair without equals sign names the input", specs: []string{"nginx:1.27"}, wantErr: `"nginx:1.27"`},
		{name: "an empty image is rejected", specs: []string{"app="}, wantErr: `"app="`},
		{name: "an empty container is rejected", specs: []string{"=nginx"}, wantErr: `"=nginx"`},
		{name: "a container named twice is rejected", specs: []string{"app=a", "app=b"}, wantErr: `given twice`},
		{name: "an invalid container name is rejected", specs: []string{"App_1=x"}, wantErr: `"App_1"`},
		{name: "no pairs at all is rejected", specs: nil, wantErr: "no CONTAINER=IMAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImages(tt.specs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDeploymentName(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "a bare name is the name", in: "web", want: "web"},
		{name: "deployment slash name is accepted", in: "deployment/web", want: "web"},
		{name: "deployments slash name is accepted", in: "deployments/web", want: "web"},
		{name: "deploy slash name is accepted", in: "deploy/web", want: "web"},
		{name: "the apps group suffix kubectl prints is accepted", in: "deployment.apps/web", want: "web"},
		{name: "another kind is rejected", in: "statefulset/web", wantErr: true},
		{name: "an empty name after the slash is rejected", in: "deploy/", wantErr: true},
		{name: "an empty string is rejected", in: "", wantErr: true},
		{name: "an invalid name is rejected", in: "Web_1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeploymentName(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Fatalf("err = %v, want ErrInvalid naming %q", err, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
