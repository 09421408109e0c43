package attack

import "testing"

func TestClassify(t *testing.T) {
	const u = "http://127.0.0.1:8080/x"
	tests := []struct {
		name string
		code uint16
		err  string
		url  string
		want Class
	}{
		{"200 is ok", 200, "", u, ClassOK},
		{"204 is ok", 204, "", u, ClassOK},
		{"a redirect is ok", 302, "", u, ClassOK},
		{"404 is a 4xx", 404, "404 Not Found", u, Class4xx},
		{"429 is a 4xx", 429, "429 Too Many Requests", u, Class4xx},
		{"502 has its own class", 502, "502 Bad Gateway", u, Class502},
		{"503 has its own class", 503, "503 Service Unavailable", u, Class503},
		{"504 has its own class", 504, "504 Gateway Timeout", u, Class504},
		{"500 is other-5xx", 500, "500 Internal Server Error", u, ClassOther5xx},
		{"599 is other-5xx", 599, "", u, ClassOther5xx},
		{"an odd code is other", 600, "", u, ClassOther},
		{"connection refused is refused", 0, `Get "` + u + `": dial tcp 127.0.0.1:8080: connect: connection refused`, u, ClassRefused},
		{"connection reset is reset", 0, `Get "` + u + `": read tcp 127.0.0.1:5000->127.0.0.1:8080: read: connection reset by peer`, u, ClassReset},
		{"broken pipe is reset", 0, `Post "` + u + `": write tcp 127.0.0.1:5000->127.0.0.1:8080: write: broken pipe`, u, ClassReset},
		{"EOF is eof", 0, `Get "` + u + `": EOF`, u, ClassEOF},
		{"unexpected EOF is eof", 0, "unexpected EOF", u, ClassEOF},
		{"server closed idle connection is eof", 0, `Post "` + u + `": http: server closed idle connection`, u, ClassEOF},
		{"a client timeout is timeout", 0, `Get "` + u + `": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, u, ClassTimeout},
		{"a body read timeout is timeout", 0, "net/http: request canceled (Client.Timeout exceeded while reading body)", u, ClassTimeout},
		{"a dial timeout is timeout", 0, `Get "` + u + `": dial tcp 10.0.0.1:80: i/o timeout`, u, ClassTimeout},
		{"no free local port is the client's", 0, `Get "` + u + `": dial tcp 127.0.0.1:8080: connect: cannot assign requested address`, u, ClassClient},
		{"no file descriptor is the client's", 0, `Get "` + u + `": dial tcp 127.0.0.1:8080: socket: too many open files`, u, ClassClient},
		{"a name the client cannot resolve is the client's", 0, `Get "http://web.invalid/": dial tcp: lookup web.invalid on 127.0.0.53:53: no such host`, "http://web.invalid/", ClassClient},
		{"an unknown error is other", 0, `Get "` + u + `": tls: handshake failure`, u, ClassOther},
		{"a URL naming a class does not decide it", 0, `Get "http://h/EOF/timeout": tls: bad certificate`, "http://h/EOF/timeout", ClassOther},
		{"an error without URL is still classified", 0, "read: connection reset by peer", "", ClassReset},
		{"HTTP/2: a GOAWAY, then the connection closed under the stream", 0, `Get "` + u + `": http2: server sent GOAWAY and closed the connection; LastStreamID=7, ErrCode=NO_ERROR, debug=""`, u, ClassGoaway},
		{"HTTP/2: a stream reset by the peer", 0, `Get "` + u + `": stream error: stream ID 9; REFUSED_STREAM; received from peer`, u, ClassStreamReset},
		{"HTTP/2: a connection closed without GOAWAY is an EOF", 0, `Get "` + u + `": unexpected EOF`, u, ClassEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.code, tc.err, tc.url); got != tc.want {
				t.Errorf("Classify(%d, %q) = %s, want %s", tc.code, tc.err, got, tc.want)
			}
		})
	}
}

func TestClassesMatchIndices(t *testing.T) {
	if len(classes) != numClasses {
		t.Fatalf("%d classes, numClasses is %d", len(classes), numClasses)
	}
	want := map[int]Class{idxOK: ClassOK, idx502: Class502, idx503: Class503, idx504: Class504,
		idxOther5xx: ClassOther5xx, idx4xx: Class4xx, idxRefused: ClassRefused, idxReset: ClassReset,
		idxEOF: ClassEOF, idxTimeout: ClassTimeout, idxGoaway: ClassGoaway, idxStreamReset: ClassStreamReset, idxOther: ClassOther, idxClient: ClassClient}
	for i, c := range want {
		if classes[i] != c {
			t.Errorf("classes[%d] = %s, want %s", i, classes[i], c)
		}
	}
}
