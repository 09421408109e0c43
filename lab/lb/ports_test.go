package lb

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

func TestServicePortAndSlicePort(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
		{Name: "http", Port: 80},
		{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9100},
	}}}
	slice := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{
		{Name: ptr.To("metrics"), Port: ptr.To[int32](9100)},
		{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(corev1.ProtocolUDP)},
		{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
	}}
	tests := []struct {
		name, portName string
		wantPort       int32 // the Service port, 0: an error
		wantTarget     int   // the slice port, 0: none
	}{
		{"no name picks the first TCP port, skipping UDP", "", 80, 8080},
		{"a name picks that port", "metrics", 9100, 9100},
		{"a UDP port's name is no TCP port", "dns", 0, 0},
		{"an unknown name is an error", "grpc", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := servicePort(svc, tc.portName)
			if tc.wantPort == 0 {
				if err == nil {
					t.Fatalf("servicePort(%q) = %+v, want an error", tc.portName, p)
				}
				return
			}
			if err != nil || p.Port != tc.wantPort {
				t.Fatalf("servicePort(%q) = %+v, %v; want port %d", tc.portName, p, err, tc.wantPort)
			}
			if got, ok := slicePort(slice, p.Name); !ok || got != tc.wantTarget {
				t.Fatalf("slicePort(%q) = %d, %v; want %d", p.Name, got, ok, tc.wantTarget)
			}
		})
	}
	if _, ok := slicePort(slice, "grpc"); ok {
		t.Fatal("slicePort found a port the slice does not have")
	}
}
