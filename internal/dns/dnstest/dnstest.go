// Package dnstest is a small authoritative DNS responder on a loopback
// UDP port, for tests that need made-up domains to resolve for programs
// other than samtal (Prosody, ejabberd, samtal's own name server
// setting). It answers A, AAAA and SRV queries from a fixed table
// (RFC 1035 §4 message format, no compression beyond the question
// pointer) and nothing else.
package dnstest

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// SRV is one SRV record.
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string
}

// Zone is what the server answers.
type Zone struct {
	Hosts map[string][]netip.Addr // name -> addresses
	SRV   map[string][]SRV        // "_xmpp-server._tcp.example.test" -> records
}

// Server is a running responder.
type Server struct {
	conn *net.UDPConn
	mu   sync.Mutex
	zone Zone
	wg   sync.WaitGroup
}

// Start listens on 127.0.0.1 on a free port and answers from zone.
func Start(zone Zone) (*Server, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &Server{conn: c, zone: zone}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Port returns the UDP port.
func (s *Server) Port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// Close stops the server.
func (s *Server) Close() {
	s.conn.Close()
	s.wg.Wait()
}

// SetZone replaces the answers.
func (s *Server) SetZone(z Zone) {
	s.mu.Lock()
	s.zone = z
	s.mu.Unlock()
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := s.answer(buf[:n]); resp != nil {
			_, _ = s.conn.WriteToUDPAddrPort(resp, from) // the asker retries
		}
	}
}

const (
	typeA    = 1
	typeAAAA = 28
	typeSRV  = 33
)

// answer builds the response to one query, nil for garbage.
func (s *Server) answer(q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// The question: labels, then type and class.
	i := 12
	var labels []string
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]
	name := strings.ToLower(strings.Join(labels, "."))

	s.mu.Lock()
	addrs, knownHost := s.zone.Hosts[name]
	srvs, knownSRV := s.zone.SRV[name]
	s.mu.Unlock()

	resp := make([]byte, 12, 512)
	copy(resp, q[:2])
	flags := uint16(0x8400) // response, authoritative
	if q[2]&0x01 != 0 {
		flags |= 0x0100 // recursion desired, echoed
	}
	flags |= 0x0080 // recursion available: forwarders expect it
	var answers [][]byte
	switch qtype {
	case typeA, typeAAAA:
		for _, a := range addrs {
			if a.Is4() && qtype == typeA || a.Is6() && !a.Is4In6() && qtype == typeAAAA {
				answers = append(answers, rr(qtype, a.AsSlice()))
			}
		}
	case typeSRV:
		for _, r := range srvs {
			rd := binary.BigEndian.AppendUint16(nil, r.Priority)
			rd = binary.BigEndian.AppendUint16(rd, r.Weight)
			rd = binary.BigEndian.AppendUint16(rd, r.Port)
			rd = appendName(rd, r.Target)
			answers = append(answers, rr(typeSRV, rd))
		}
	}
	if !knownHost && !knownSRV && !s.parentKnown(name) {
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, a...)
	}
	return resp
}

// parentKnown reports whether a longer name in the zone ends in name: an
// empty non-terminal exists (NOERROR, no data) rather than NXDOMAIN.
func (s *Server) parentKnown(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.zone.SRV {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	for k := range s.zone.Hosts {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

// rr is one answer record for the question's name (pointer to offset 12).
func rr(typ uint16, rdata []byte) []byte {
	b := []byte{0xc0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)  // IN
	b = binary.BigEndian.AppendUint32(b, 60) // TTL
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func appendName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for l := range strings.SplitSeq(name, ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	return append(b, 0)
}
