// Command xmpp-bound is the upper bound that BENCHMARKS.md compares
// samtal with: the least an XMPP server must do to carry the load
// generator's 1:1 messages. It speaks just enough XMPP for samtal-bench
// (STARTTLS, SASL PLAIN accepting any credentials, resource binding),
// then forwards each <message/> as raw bytes to the session bound to its
// 'to' address, with the sender's address spliced in as 'from' (RFC 6120
// §8.1.2.1: every server stamps it, and every client then reads it). It
// parses no XML (it only finds where each top-level element ends), checks
// nothing, stores nothing, and answers every iq with an empty result. It
// is a measuring stick, not a server: never expose it.
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5222", "listen address (loopback)")
	domain := flag.String("domain", "localhost", "the XMPP domain")
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM private key")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("xmpp-bound: %v", err)
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("xmpp-bound: %s is not a loopback address", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("xmpp-bound: %v", err)
	}
	fmt.Printf("xmpp-bound on %s\n", ln.Addr())
	r := &router{domain: *domain, tls: &tls.Config{Certificates: []tls.Certificate{cert}}, sessions: map[string]*session{}}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go r.serve(c)
	}
}

type router struct {
	domain   string
	tls      *tls.Config
	mu       sync.RWMutex
	sessions map[string]*session
}

type session struct {
	c    net.Conn
	mu   sync.Mutex
	out  []byte
	wake chan struct{}
	dead bool
}

// send appends b to the session's queue; its writer sends everything
// queued in one write.
func (s *session) send(b []byte) { s.queue(func(out []byte) []byte { return append(out, b...) }) }

// forward queues a message, as the peer sent it, with from (" from='...'")
// spliced in after its name.
func (s *session) forward(msg, from []byte) {
	s.queue(func(out []byte) []byte { return stampFrom(out, msg, from) })
}

// queue appends to the session's queue with f and wakes its writer.
func (s *session) queue(f func([]byte) []byte) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.out = f(s.out)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stampFrom appends msg, a <message ...> element, to out with from
// inserted after "<message" (the load generator sends no 'from' of its
// own).
func stampFrom(out, msg, from []byte) []byte {
	const name = len("<message")
	out = append(out, msg[:name]...)
	out = append(out, from...)
	return append(out, msg[name:]...)
}

func (s *session) writer() {
	var spare []byte
	for range s.wake {
		s.mu.Lock()
		b := s.out
		s.out = spare[:0]
		dead := s.dead
		s.mu.Unlock()
		if len(b) > 0 {
			if _, err := s.c.Write(b); err != nil {
				dead = true
			}
		}
		if dead {
			s.c.Close()
			return
		}
		spare = b
	}
}

const header = "<?xml version='1.0'?><stream:stream from='%s' id='%d' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

func (r *router) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sp := &splitter{r: c}
	open := func(features string) bool {
		for {
			u, err := sp.next()
			if err != nil {
				return false
			}
			if bytes.HasPrefix(u, []byte("<stream:stream")) {
				break
			}
		}
		_, err := fmt.Fprintf(c, header+"<stream:features>%s</stream:features>", r.domain, time.Now().UnixNano(), features)
		return err == nil
	}
	if !open("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>") {
		return
	}
	if u, err := sp.next(); err != nil || !bytes.HasPrefix(u, []byte("<starttls")) {
		return
	}
	if _, err := io.WriteString(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return
	}
	tc := tls.Server(c, r.tls)
	if err := tc.Handshake(); err != nil {
		return
	}
	c = tc
	sp = &splitter{r: tc}
	if !open("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>") {
		return
	}
	u, err := sp.next()
	if err != nil || !bytes.HasPrefix(u, []byte("<auth")) {
		return
	}
	// PLAIN: authzid NUL authcid NUL password; any password will do.
	payload := between(u, ">", "<")
	raw, err := base64.StdEncoding.DecodeString(string(payload))
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 || len(parts[1]) == 0 {
		_, _ = io.WriteString(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure></stream:stream>")
		return
	}
	user := string(parts[1])
	if _, err := io.WriteString(c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"); err != nil {
		return
	}
	sp = &splitter{r: tc}
	if !open("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>") {
		return
	}
	u, err = sp.next()
	if err != nil || !bytes.HasPrefix(u, []byte("<iq")) {
		return
	}
	res := string(between(u, "<resource>", "</resource>"))
	if res == "" {
		res = fmt.Sprintf("r%d", time.Now().UnixNano())
	}
	full := user + "@" + r.domain + "/" + res
	s := &session{c: c, wake: make(chan struct{}, 1)}
	go s.writer()
	r.mu.Lock()
	if old := r.sessions[full]; old != nil {
		old.c.Close()
	}
	r.sessions[full] = s
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.sessions[full] == s {
			delete(r.sessions, full)
		}
		r.mu.Unlock()
		s.mu.Lock()
		s.dead = true
		s.mu.Unlock()
		close(s.wake)
	}()
	s.send([]byte("<iq type='result' id='" + string(attr(u, "id")) + "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>" + full + "</jid></bind></iq>"))
	_ = c.SetDeadline(time.Time{})
	from := []byte(" from='" + full + "'")
	for {
		u, err := sp.next()
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(u, []byte("<message")):
			r.mu.RLock()
			dst := r.sessions[string(attr(u, "to"))]
			r.mu.RUnlock()
			if dst != nil {
				dst.forward(u, from)
			}
		case bytes.HasPrefix(u, []byte("<iq")):
			if t := string(attr(u, "type")); t == "get" || t == "set" {
				s.send([]byte("<iq type='result' id='" + string(attr(u, "id")) + "'/>"))
			}
		case bytes.HasPrefix(u, []byte("</stream:stream")):
			s.send([]byte("</stream:stream>"))
			return
		}
	}
}

// between returns what lies between the first a and the next b in u.
func between(u []byte, a, b string) []byte {
	i := bytes.Index(u, []byte(a))
	if i < 0 {
		return nil
	}
	rest := u[i+len(a):]
	j := bytes.Index(rest, []byte(b))
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// attr finds name='v' or name="v" in the first tag of u.
func attr(u []byte, name string) []byte {
	end := bytes.IndexByte(u, '>')
	if end < 0 {
		return nil
	}
	tag := u[:end]
	for i := 0; ; {
		j := bytes.Index(tag[i:], []byte(" "+name+"="))
		if j < 0 {
			return nil
		}
		k := i + j + len(name) + 2
		if k >= len(tag) {
			return nil
		}
		q := tag[k]
		if q != '\'' && q != '"' {
			i = k
			continue
		}
		v := tag[k+1:]
		if e := bytes.IndexByte(v, q); e >= 0 {
			return v[:e]
		}
		return nil
	}
}

// splitter cuts a byte stream into top-level units: a declaration, the
// stream header, the stream's close tag, or one whole element. It only
// tracks tag depth and quotes; it checks nothing.
type splitter struct {
	r     io.Reader
	buf   []byte
	start int // start of the unit being scanned
	pos   int // next byte to scan
	depth int
	inTag bool
	quote byte
	tag   int // start of the current tag
	elem  int // start of the current top-level element
}

func (s *splitter) next() ([]byte, error) {
	for {
		if u, ok := s.scan(); ok {
			return u, nil
		}
		// Keep the unfinished unit, drop what was returned.
		if s.start > 0 {
			n := copy(s.buf, s.buf[s.start:])
			s.pos -= s.start
			s.tag -= s.start
			s.elem -= s.start
			s.buf = s.buf[:n]
			s.start = 0
		}
		if len(s.buf) == cap(s.buf) {
			if cap(s.buf) >= 1<<20 {
				return nil, errors.New("unit too large")
			}
			nb := make([]byte, len(s.buf), max(2*cap(s.buf), 4096))
			copy(nb, s.buf)
			s.buf = nb
		}
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if n == 0 && err != nil {
			return nil, err
		}
	}
}

func (s *splitter) scan() ([]byte, bool) {
	b := s.buf
	for s.pos < len(b) {
		c := b[s.pos]
		s.pos++
		if !s.inTag {
			if c == '<' {
				s.inTag = true
				s.tag = s.pos - 1
				if s.depth == 0 {
					s.elem = s.tag
				}
			} else if s.depth == 0 {
				s.start = s.pos // white space between units
			}
			continue
		}
		if s.quote != 0 {
			if c == s.quote {
				s.quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			s.quote = c
			continue
		case '>':
		default:
			continue
		}
		s.inTag = false
		tag := b[s.tag:s.pos]
		switch {
		case len(tag) > 1 && (tag[1] == '?' || tag[1] == '!'):
			if s.depth > 0 {
				continue
			}
		case len(tag) > 1 && tag[1] == '/':
			s.depth--
			if s.depth > 0 {
				continue
			}
			if s.depth < 0 { // the stream's close tag
				s.depth = 0
			}
		case tag[len(tag)-2] == '/':
			if s.depth > 0 {
				continue
			}
		case s.depth == 0 && bytes.HasPrefix(tag, []byte("<stream:stream")):
		default:
			s.depth++
			continue
		}
		u := b[s.elem:s.pos]
		s.start = s.pos
		return u, true
	}
	return nil, false
}
