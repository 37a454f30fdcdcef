package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// outLimits bound what the adapters parse back from the stream code: the
// server's own output, which wraps client stanzas (carbons, offline
// delivery) and so may be larger and deeper than what a client may send.
var outLimits = xmlstream.Limits{MaxStanzaBytes: 16 << 20, MaxDepth: 256, MaxAttrs: 256}

// wsWriteTimeout bounds one message write to a client that stopped
// reading; the stream code's own write timeout then ends the session.
const wsWriteTimeout = 30 * time.Second

// serveWebSocket runs XMPP over WebSocket (RFC 7395): every message is one
// XML element; the adapter turns <open/> into a stream header and <close/>
// into the close tag for the stream code, and frames the stream code's
// output element by element.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// RFC 7395 §3.1: the "xmpp" subprotocol must be negotiated.
	if !hasToken(r.Header.Get("Sec-WebSocket-Protocol"), "xmpp") {
		http.Error(w, "the xmpp WebSocket subprotocol is required", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"xmpp"},
		// The origin was checked above, with the configured origins.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept answered the request
	}
	lim := s.cfg.Limits.WithDefaults()
	c.SetReadLimit(int64(lim.MaxStanzaBytes) + 4096)
	streamEnd, conn := newPipe(r.RemoteAddr)
	ws := &wsConn{c: c, conn: conn, lim: lim}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.cfg.ServeXMPP(streamEnd)
	}()
	go func() {
		defer wg.Done()
		ws.output()
	}()
	ws.input(s.ctx)
	wg.Wait()
}

// wsConn is one WebSocket connection and its pipe to the stream code.
type wsConn struct {
	c    *websocket.Conn
	conn net.Conn // the transport's end of the pipe
	lim  xmlstream.Limits
}

// input reads messages until the client goes away, feeding the stream.
func (ws *wsConn) input(ctx context.Context) {
	defer ws.conn.Close()
	for {
		typ, data, err := ws.c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			// RFC 7395 §3.2: XMPP messages are text frames.
			ws.c.Close(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			// A whitespace keepalive, which message framing makes
			// pointless but some clients still send: ignore it.
			continue
		}
		el, err := xmlstream.Parse(data, ws.lim)
		if err != nil {
			// The message is not one well-formed element: end the
			// stream with the error RFC 6120 §4.9.3 names for it.
			e, ok := stream.FromParseError(err)
			if !ok {
				e = stream.Error{Condition: stream.NotWellFormed}
			}
			ws.fail(ctx, e)
			return
		}
		var b []byte
		switch {
		case el.Is(NSFraming, "open"):
			b = streamHeader(el.Attr("to"), el.Attr("version"), el.Lang())
		case el.Is(NSFraming, "close"):
			b = []byte(stream.Close)
		case el.Is(stream.NS, "stream"):
			// RFC 7395 §3.3.2: <stream:stream> is not allowed.
			ws.fail(ctx, stream.Error{Condition: stream.UnsupportedStanzaType, Text: "use <open/>"})
			return
		default:
			var ok bool
			if b, ok = appendInput(el, ws.lim.MaxStanzaBytes); !ok {
				// The stream code would refuse it as over its limit,
				// which is the same as the adapter's.
				ws.fail(ctx, stream.Error{Condition: stream.PolicyViolation, Text: "stanza too large"})
				return
			}
		}
		if _, err := ws.conn.Write(b); err != nil {
			return
		}
	}
}

// fail ends the stream with a stream error the adapter found itself
// (RFC 7395 §3.6): the error, then <close/>.
func (ws *wsConn) fail(ctx context.Context, e stream.Error) {
	ws.write(ctx, appendFramed(e.Element()))
	ws.write(ctx, closeFrame)
	ws.c.Close(websocket.StatusNormalClosure, "")
}

var closeFrame = []byte("<close xmlns='" + NSFraming + "'/>")

func (ws *wsConn) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	return ws.c.Write(ctx, websocket.MessageText, b)
}

// output reads the stream code's bytes back as a stream and sends each
// element as one message: the header as <open/> (RFC 7395 §3.3.1), every
// element namespaced on its own (§3.3.3), the close tag as <close/>
// (§3.6). After <success/> of SASL the stream code restarts its stream
// (RFC 6120 §6.4.6), so the reader starts a new one.
func (ws *wsConn) output() {
	defer ws.conn.Close()
	defer ws.c.CloseNow() // after a clean Close, a no-op
	ctx := context.Background()
	r := xmlstream.NewReader(ws.conn, outLimits)
	for {
		hdr, err := r.Header()
		if err != nil {
			ws.c.Close(websocket.StatusNormalClosure, "")
			return
		}
		open := xmlel.New(NSFraming, "open", "from", hdr.Attr("from"), "id", hdr.Attr("id"), "version", hdr.Attr("version"))
		if l := hdr.Lang(); l != "" {
			open.Attrs = append(open.Attrs, xmlel.Attr{Space: xmlel.NSXML, Local: "lang", Value: l})
		}
		if ws.write(ctx, open.AppendXML(nil, "")) != nil {
			return
		}
		for {
			el, err := r.Next()
			if errors.Is(err, io.EOF) {
				_ = ws.write(ctx, closeFrame) // the client may be gone
				ws.c.Close(websocket.StatusNormalClosure, "")
				return
			}
			if err != nil {
				ws.c.Close(websocket.StatusNormalClosure, "")
				return
			}
			if ws.write(ctx, appendFramed(el)) != nil {
				return
			}
			if el.Is(stream.NSSASL, "success") {
				r.Reset(ws.conn)
				break
			}
		}
	}
}
