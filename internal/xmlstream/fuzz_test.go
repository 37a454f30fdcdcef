package xmlstream

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// FuzzNext reads a client stream whose body is the fuzzed input. It must
// never panic; the outcome must not depend on how the input is split into
// reads; and every element read must round-trip through xmlel.
func FuzzNext(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append([]byte(clientHdr), body...)
		want := read(bytes.NewReader(in), testLimits)
		if got := read(iotest.OneByteReader(bytes.NewReader(in)), testLimits); !reflect.DeepEqual(got, want) {
			t.Fatalf("one byte at a time: %v, %q; whole: %v, %q", got.els, got.err, want.els, want.err)
		}
		rnd := rand.New(rand.NewPCG(uint64(len(body)), 7))
		if got := read(&chunkReader{in, rnd, 64}, testLimits); !reflect.DeepEqual(got, want) {
			t.Fatalf("in chunks: %v, %q; whole: %v, %q", got.els, got.err, want.els, want.err)
		}
		if got := readViews(t, &chunkReader{in, rnd, 64}, testLimits); !reflect.DeepEqual(got, want) {
			t.Fatalf("by views: %v, %q; by Next: %v, %q", got.els, got.err, want.els, want.err)
		}
		for _, e := range want.els {
			checkRoundTrip(t, e)
		}
	})
}

// FuzzParse parses the fuzzed input as one element. It must never panic;
// what it accepts must round-trip, and for plain ASCII input encoding/xml
// must accept it too and make the same tree (encoding/xml knows fewer name
// characters, and does not normalise white space in attribute values).
func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
		f.Add([]byte(`<w xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` + s + `</w>`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, testLimits)
		if err != nil {
			return
		}
		checkRoundTrip(t, e)
		if !isPlainASCII(data) {
			return
		}
		want, oerr := oracle(data)
		if oerr != nil {
			t.Fatalf("Parse(%q) accepted what encoding/xml rejects: %v", data, oerr)
		}
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("Parse(%q) = %#v, encoding/xml gives %#v", data, e, want)
		}
	})
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf || c == '\t' || c == '\n' || c == '\r' {
			return false
		}
	}
	return true
}
