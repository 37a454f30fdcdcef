package web

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
)

// Link relations of XEP-0156 §3.
const (
	relWebSocket = "urn:xmpp:alt-connections:websocket"
	relBOSH      = "urn:xmpp:alt-connections:xbosh"
)

type hostMetaLink struct {
	Rel  string `json:"rel" xml:"rel,attr"`
	Href string `json:"href" xml:"href,attr"`
}

// links returns the connection methods of XEP-0156 for the URL the
// request reached: wss:// and https:// behind TLS (§5: clients use only
// those), ws:// and http:// only for a development listener without TLS.
func (s *Server) links(r *http.Request) []hostMetaLink {
	base := s.baseURL(r)
	ws := *base
	ws.Scheme = "wss"
	if base.Scheme == "http" {
		ws.Scheme = "ws"
	}
	ws.Path = base.Path + "/xmpp-websocket"
	bosh := *base
	bosh.Path = base.Path + "/http-bind"
	return []hostMetaLink{{relWebSocket, ws.String()}, {relBOSH, bosh.String()}}
}

// hostMetaPreflight answers CORS for host-meta: XEP-0156 §3.3 lets web
// clients on any domain read it, without credentials. It reports whether
// the request was only a preflight.
func hostMetaPreflight(w http.ResponseWriter, r *http.Request) bool {
	allowCORS(w, "GET, HEAD, OPTIONS", "")
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return true
	case http.MethodGet, http.MethodHead:
		return false
	}
	w.Header().Set("Allow", "GET, HEAD, OPTIONS")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return true
}

// serveHostMeta serves the XRD document of XEP-0156 §3.1 (RFC 6415).
func (s *Server) serveHostMeta(w http.ResponseWriter, r *http.Request) {
	if hostMetaPreflight(w, r) {
		return
	}
	doc := struct {
		XMLName xml.Name       `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []hostMetaLink `xml:"Link"`
	}{Links: s.links(r)}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(append([]byte(xml.Header), b...)) // the client may be gone
}

// serveHostMetaJSON serves the JRD form of XEP-0156 §3.2.
func (s *Server) serveHostMetaJSON(w http.ResponseWriter, r *http.Request) {
	if hostMetaPreflight(w, r) {
		return
	}
	b, err := json.MarshalIndent(struct {
		Links []hostMetaLink `json:"links"`
	}{s.links(r)}, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(b) // the client may be gone
}
