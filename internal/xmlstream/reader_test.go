package xmlstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"samtal.org/samtal/internal/xmlel"
)

const (
	nsStreams = "http://etherx.jabber.org/streams"
	clientHdr = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>`
	serverHdr = `<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
)

// errClass names the kind of err, for comparing outcomes.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, ErrNotWellFormed):
		return "NotWellFormed"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "UnexpectedEOF"
	case errors.Is(err, ErrRestricted):
		return "Restricted"
	case errors.Is(err, ErrTooLarge):
		return "TooLarge"
	case errors.Is(err, ErrBadPrefix):
		return "BadPrefix"
	case errors.Is(err, ErrBadEncoding):
		return "BadEncoding"
	}
	return "other: " + err.Error()
}

// readAll reads the header and every element of the stream in src, and
// returns the elements with the error that ended the stream (io.EOF after
// a proper close tag).
func readAll(src io.Reader, lim Limits) (hdr *xmlel.Element, els []*xmlel.Element, err error) {
	r := NewReader(src, lim)
	if hdr, err = r.Header(); err != nil {
		return nil, nil, err
	}
	for {
		el, err := r.Next()
		if err != nil {
			return hdr, els, err
		}
		els = append(els, el)
	}
}

// next reads one element from a client stream that carries body.
func next(t *testing.T, body string) (*xmlel.Element, error) {
	t.Helper()
	r := NewReader(strings.NewReader(clientHdr+body), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatalf("Header() = %v", err)
	}
	return r.Next()
}

func el(space, local string, attrs ...string) *xmlel.Element {
	return xmlel.New(space, local, attrs...)
}

func withAttrs(e *xmlel.Element, attrs ...xmlel.Attr) *xmlel.Element {
	e.Attrs = append(e.Attrs, attrs...)
	return e
}

func withText(e *xmlel.Element, s string) *xmlel.Element {
	e.Children = append(e.Children, xmlel.Text(s))
	return e
}

func TestNextTrees(t *testing.T) {
	lang := func(v string) xmlel.Attr { return xmlel.Attr{Space: xmlel.NSXML, Local: "lang", Value: v} }
	tests := []struct {
		name, in string
		want     *xmlel.Element
	}{
		{"message", `<message to='a@b' from='c@d/r' type='chat' id='x'><body>hello</body></message>`,
			el("", "message", "to", "a@b", "from", "c@d/r", "type", "chat", "id", "x").Append(
				xmlel.TextElement("", "body", "hello"))},
		{"empty", `<r xmlns='urn:xmpp:sm:3'/>`, el("urn:xmpp:sm:3", "r")},
		{"empty with space", `<presence />`, el("", "presence")},
		{"stream namespace", `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
			el(nsStreams, "features").Append(el("urn:ietf:params:xml:ns:xmpp-bind", "bind"))},
		{"stream error", `<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
			el(nsStreams, "error").Append(el("urn:ietf:params:xml:ns:xmpp-streams", "not-well-formed"))},
		{"explicit content namespace", `<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
			el("", "iq", "type", "get", "id", "1").Append(el("urn:xmpp:ping", "ping"))},
		{"server namespace stored as empty", `<message xmlns='jabber:server'/>`, el("", "message")},
		{"foreign nested content", `<message><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/><message xmlns='jabber:client' type='chat'><body>hi</body></message></forwarded></message>`,
			el("", "message").Append(el("urn:xmpp:forward:0", "forwarded").Append(
				el("urn:xmpp:delay", "delay", "stamp", "2024-01-01T00:00:00Z"),
				el("", "message", "type", "chat").Append(xmlel.TextElement("", "body", "hi"))))},
		{"default namespace inherited", `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>g</group></item></query></iq>`,
			el("", "iq", "type", "set").Append(el("jabber:iq:roster", "query").Append(
				el("jabber:iq:roster", "item", "jid", "a@b").Append(xmlel.TextElement("jabber:iq:roster", "group", "g"))))},
		{"prefixed child", `<message xmlns:x='urn:x'><x:a x:b='1' c='2'><x:d/></x:a></message>`,
			el("", "message").Append(withAttrs(el("urn:x", "a"),
				xmlel.Attr{Space: "urn:x", Local: "b", Value: "1"}, xmlel.Attr{Local: "c", Value: "2"}).Append(el("urn:x", "d")))},
		{"prefix shadowed", `<a xmlns:p='urn:1'><p:b xmlns:p='urn:2'><p:c/></p:b><p:d/></a>`,
			el("", "a").Append(el("urn:2", "b").Append(el("urn:2", "c")), el("urn:1", "d"))},
		{"default undeclared", `<a xmlns='urn:a'><b xmlns=''><c/></b></a>`,
			el("urn:a", "a").Append(el("", "b").Append(el("", "c")))},
		{"header prefix in scope", `<db:result from='a' to='b'>key</db:result>`, nil}, // undeclared on a client stream, see errors
		{"attribute default namespace", `<a xmlns='urn:a' b='1'/>`, el("urn:a", "a", "b", "1")},
		{"xml:lang", `<message xml:lang='sv'><body xml:lang='en'>hi</body></message>`,
			withAttrs(el("", "message"), lang("sv")).Append(withText(withAttrs(el("", "body"), lang("en")), "hi"))},
		{"entities in text", `<body>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;</body>`,
			xmlel.TextElement("", "body", `<>&'"AB😀`)},
		{"entities in attribute", `<a b='&lt;&amp;&#x9;&#10;&#13;"' c="'"/>`,
			el("", "a", "b", "<&\t\n\r\"", "c", "'")},
		{"attribute normalisation", "<a b='x\ty\nz\r\nw\rv'/>", el("", "a", "b", "x y z w v")},
		{"greater-than in attribute", `<a b='>'/>`, el("", "a", "b", ">")},
		{"cdata joins text", `<body>a<![CDATA[<b>&amp;]]]]>c</body>`, xmlel.TextElement("", "body", "a<b>&amp;]]c")},
		{"cdata alone", `<body><![CDATA[x]]></body>`, xmlel.TextElement("", "body", "x")},
		{"empty cdata", `<body><![CDATA[]]></body>`, el("", "body")},
		{"whitespace text kept", "<body> \n </body>", xmlel.TextElement("", "body", " \n ")},
		{"mixed content", `<p>a<b>b</b>c<br/>d</p>`,
			withText(el("", "p"), "a").Append(xmlel.TextElement("", "b", "b")).AppendText("c").Append(el("", "br")).AppendText("d")},
		{"line ends in text", "<body>a\r\nb\rc\n</body>", xmlel.TextElement("", "body", "a\nb\nc\n")},
		{"char ref CR kept", "<body>a&#xD;b</body>", xmlel.TextElement("", "body", "a\rb")},
		{"unicode names and text", "<ö xmlns='urn:ä' ü='ß'>日本語</ö>", withText(el("urn:ä", "ö", "ü", "ß"), "日本語")},
		{"double quotes", `<a b="c"/>`, el("", "a", "b", "c")},
		{"whitespace in tags", "<a \n b = 'c'\t></a >", el("", "a", "b", "c")},
		{"closing bracket text", `<body>]] ></body>`, xmlel.TextElement("", "body", "]] >")},
		{"empty attribute", `<a b=''/>`, &xmlel.Element{Local: "a", Attrs: []xmlel.Attr{{Local: "b"}}}},
		{"same local other namespace", `<a xmlns:p='urn:p' b='1' p:b='2'/>`,
			withAttrs(el("", "a", "b", "1"), xmlel.Attr{Space: "urn:p", Local: "b", Value: "2"})},
		{"xml prefix declared", `<a xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>`,
			withAttrs(el("", "a"), lang("en"))},
	}
	for _, tc := range tests {
		if tc.want == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			got, err := next(t, tc.in)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Next(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			// Without the stream's declarations a bare element has no
			// namespace at all, which is stored as "" too.
			got, err = Parse([]byte(tc.in), Limits{})
			if tc.want.Space == nsStreams {
				return // the stream prefix is undeclared without a header
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestServerStream(t *testing.T) {
	in := serverHdr + `<db:result from='a.example' to='b.example'>key</db:result><message from='x@a.example' to='y@b.example'/></stream:stream>`
	hdr, els, err := readAll(strings.NewReader(in), Limits{})
	if err != io.EOF {
		t.Fatalf("readAll() error = %v, want EOF", err)
	}
	if !hdr.Is(nsStreams, "stream") || hdr.Attr("version") != "1.0" || len(hdr.Attrs) != 1 {
		t.Errorf("header = %#v", hdr)
	}
	want := []*xmlel.Element{
		xmlel.TextElement("jabber:server:dialback", "result", "key"),
		el("", "message", "from", "x@a.example", "to", "y@b.example"),
	}
	want[0].Attrs = []xmlel.Attr{{Local: "from", Value: "a.example"}, {Local: "to", Value: "b.example"}}
	if !reflect.DeepEqual(els, want) {
		t.Errorf("elements = %v, want %v", els, want)
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name, in  string
		space     string
		attrs     []xmlel.Attr
		content   string
		wantClass string
	}{
		{"full", clientHdr, nsStreams, []xmlel.Attr{{Local: "to", Value: "example.com"}, {Local: "version", Value: "1.0"}, {Space: xmlel.NSXML, Local: "lang", Value: "en"}}, "jabber:client", "ok"},
		{"no declaration", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'>`, nsStreams, nil, "jabber:server", "ok"},
		{"no prefix", `<stream xmlns='http://etherx.jabber.org/streams'>`, nsStreams, nil, nsStreams, "ok"},
		{"other prefix", `<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>`, nsStreams, nil, "jabber:client", "ok"},
		{"leading whitespace", " \r\n\t<?xml version='1.0'?>\n<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", nsStreams, nil, "", "ok"},
		{"byte order mark", "\xEF\xBB\xBF<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", nsStreams, nil, "", "ok"},
		{"declaration utf-8", `<?xml version="1.0" encoding="utf-8" standalone='yes' ?><stream xmlns='urn:x'>`, "urn:x", nil, "urn:x", "ok"},
		{"wrong namespace is the caller's", `<stream:stream xmlns:stream='urn:wrong'>`, "urn:wrong", nil, "", "ok"},
		{"declaration latin-1", `<?xml version='1.0' encoding='ISO-8859-1'?><stream/>`, "", nil, "", "BadEncoding"},
		{"utf-16", "\xFF\xFE<\x00", "", nil, "", "BadEncoding"},
		{"utf-16 be", "\x00<\x00s", "", nil, "", "BadEncoding"},
		{"declaration version", `<?xml version='1.1'?><stream/>`, "", nil, "", "NotWellFormed"},
		{"declaration order", `<?xml encoding='UTF-8' version='1.0'?><stream/>`, "", nil, "", "NotWellFormed"},
		{"declaration without version", `<?xml encoding='UTF-8'?><stream/>`, "", nil, "", "NotWellFormed"},
		{"declaration junk", `<?xml version='1.0' foo='bar'?><stream/>`, "", nil, "", "NotWellFormed"},
		{"two declarations", `<?xml version='1.0'?><?xml version='1.0'?><stream/>`, "", nil, "", "Restricted"},
		{"processing instruction", `<?xml-stylesheet href='a'?><stream/>`, "", nil, "", "Restricted"},
		{"comment", `<!-- hi --><stream/>`, "", nil, "", "Restricted"},
		{"doctype", `<!DOCTYPE stream [<!ENTITY a 'b'>]><stream/>`, "", nil, "", "Restricted"},
		{"text", `hello<stream/>`, "", nil, "", "NotWellFormed"},
		{"end tag", `</stream>`, "", nil, "", "NotWellFormed"},
		{"undeclared prefix", `<stream:stream>`, "", nil, "", "BadPrefix"},
		{"empty", "", "", nil, "", "EOF"},
		{"only whitespace", "  \n", "", nil, "", "EOF"},
		{"cut", `<stream:stream xmlns:stream='http://etherx`, "", nil, "", "UnexpectedEOF"},
		{"cut declaration", `<?xml version=`, "", nil, "", "UnexpectedEOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), Limits{})
			h, err := r.Header()
			if got := errClass(err); got != tc.wantClass {
				t.Fatalf("Header(%q) error = %v (%s), want %s", tc.in, err, got, tc.wantClass)
			}
			if err != nil {
				return
			}
			if h.Space != tc.space || h.Local != "stream" || !reflect.DeepEqual(h.Attrs, tc.attrs) || h.Children != nil {
				t.Errorf("Header(%q) = %#v", tc.in, h)
			}
			if got := r.ContentNS(); got != tc.content {
				t.Errorf("ContentNS() = %q, want %q", got, tc.content)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("a", 100)
	tests := []struct {
		name, in string
		want     error
	}{
		// not-well-formed
		{"mismatched tags", `<message></presence>`, ErrNotWellFormed},
		{"mismatched prefix", `<message xmlns:a='urn:a' xmlns:b='urn:a'><a:x></b:x></message>`, ErrNotWellFormed},
		{"unquoted attribute", `<message to=a/>`, ErrNotWellFormed},
		{"unterminated quote", `<message to='a"/></message>`, ErrNotWellFormed},
		{"attribute without value", `<message to/>`, ErrNotWellFormed},
		{"no space between attributes", `<message to='a'from='b'/>`, ErrNotWellFormed},
		{"duplicate attribute", `<message to='a' to='b'/>`, ErrNotWellFormed},
		{"duplicate expanded attribute", `<message xmlns:a='urn:x' xmlns:b='urn:x' a:c='1' b:c='2'/>`, ErrNotWellFormed},
		{"duplicate xml:lang", `<message xml:lang='en' xml:lang='sv'/>`, ErrNotWellFormed},
		{"duplicate declaration", `<message xmlns:a='urn:x' xmlns:a='urn:y'/>`, ErrNotWellFormed},
		{"duplicate default declaration", `<message xmlns='jabber:client' xmlns='jabber:client'/>`, ErrNotWellFormed},
		{"lt in attribute", `<message to='a<b'/>`, ErrNotWellFormed},
		{"lt in attribute unterminated", `<message to='a<b` + long, ErrNotWellFormed},
		{"bare ampersand text", `<body>a & b</body>`, ErrNotWellFormed},
		{"bare ampersand attribute", `<a b='&'/>`, ErrNotWellFormed},
		{"unterminated reference", `<body>&amp</body>`, ErrNotWellFormed},
		{"empty reference", `<body>&;</body>`, ErrNotWellFormed},
		{"long reference", `<body>&#` + strings.Repeat("0", 40) + `65;</body>`, ErrNotWellFormed},
		{"char ref to NUL", `<body>&#0;</body>`, ErrNotWellFormed},
		{"char ref to control", `<body>&#x1;</body>`, ErrNotWellFormed},
		{"char ref to surrogate", `<body>&#xD800;</body>`, ErrNotWellFormed},
		{"char ref to FFFE", `<body>&#xFFFE;</body>`, ErrNotWellFormed},
		{"char ref too big", `<body>&#x110000;</body>`, ErrNotWellFormed},
		{"char ref huge", `<body>&#99999999999999999999;</body>`, ErrNotWellFormed},
		{"char ref empty", `<body>&#;</body>`, ErrNotWellFormed},
		{"char ref upper X", `<body>&#X41;</body>`, ErrNotWellFormed},
		{"char ref bad digit", `<body>&#1a;</body>`, ErrNotWellFormed},
		{"control character text", "<body>a\x01b</body>", ErrNotWellFormed},
		{"NUL in text", "<body>a\x00b</body>", ErrNotWellFormed},
		{"control character attribute", "<a b='\x1f'/>", ErrNotWellFormed},
		{"U+FFFE", "<body>\uFFFE</body>", ErrNotWellFormed},
		{"U+FFFF attribute", "<a b='\uFFFF'/>", ErrNotWellFormed},
		{"cdata end in text", `<body>a]]>b</body>`, ErrNotWellFormed},
		{"cdata outside stanza", `<![CDATA[x]]>`, ErrNotWellFormed},
		{"bad markup", `<body><!x></body>`, ErrNotWellFormed},
		{"bad cdata", `<body><![CDATX[x]]></body>`, ErrNotWellFormed},
		{"text between stanzas", `hello<message/>`, ErrNotWellFormed},
		{"reference between stanzas", `&#32;<message/>`, ErrNotWellFormed},
		{"bad name start", `<1message/>`, ErrNotWellFormed},
		{"empty name", `< message/>`, ErrNotWellFormed},
		{"empty end name", `<a></ >`, ErrNotWellFormed},
		{"two colons", `<a:b:c/>`, ErrNotWellFormed},
		{"colon first", `<:a/>`, ErrNotWellFormed},
		{"colon last", `<a: b='c'/>`, ErrNotWellFormed},
		{"bad unicode name", "<a\u00d7b/>", ErrNotWellFormed},
		{"slash not closing", `<a/ >`, ErrNotWellFormed},
		{"end tag junk", `<a></a b>`, ErrNotWellFormed},
		{"wrong stream close", `</stream>`, ErrNotWellFormed},
		{"xml namespace as default", `<a xmlns='http://www.w3.org/XML/1998/namespace'/>`, ErrNotWellFormed},
		{"xml prefix rebound", `<a xmlns:xml='urn:x'/>`, ErrNotWellFormed},
		{"xml namespace other prefix", `<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>`, ErrNotWellFormed},
		{"xmlns prefix declared", `<a xmlns:xmlns='urn:x'/>`, ErrNotWellFormed},
		{"xmlns namespace declared", `<a xmlns='http://www.w3.org/2000/xmlns/'/>`, ErrNotWellFormed},
		{"prefix undeclared", `<a xmlns:p=''/>`, ErrNotWellFormed},
		{"element in xml namespace", `<xml:a/>`, ErrNotWellFormed},
		// restricted-xml
		{"comment", `<message><!-- hi --></message>`, ErrRestricted},
		{"comment between stanzas", `<!-- hi -->`, ErrRestricted},
		{"processing instruction", `<message><?php echo ?></message>`, ErrRestricted},
		{"processing instruction between stanzas", `<?foo?>`, ErrRestricted},
		{"declaration in stream", `<?xml version='1.0'?>`, ErrRestricted},
		{"doctype", `<!DOCTYPE message>`, ErrRestricted},
		{"entity declaration", `<message><!ENTITY a 'b'></message>`, ErrRestricted},
		{"undefined entity text", `<body>&nbsp;</body>`, ErrRestricted},
		{"undefined entity attribute", `<a b='&foo;'/>`, ErrRestricted},
		// bad-namespace-prefix
		{"undeclared element prefix", `<foo:message/>`, ErrBadPrefix},
		{"undeclared attribute prefix", `<message foo:to='a'/>`, ErrBadPrefix},
		{"prefix out of scope", `<a><b xmlns:p='urn:p'/><p:c/></a>`, ErrBadPrefix},
		{"xmlns element prefix", `<xmlns:a/>`, ErrBadPrefix},
		{"server prefix on client stream", `<db:result/>`, ErrBadPrefix},
		// unsupported-encoding
		{"invalid utf-8 text", "<body>\xff</body>", ErrBadEncoding},
		{"invalid utf-8 attribute", "<a b='\xc3\x28'/>", ErrBadEncoding},
		{"invalid utf-8 name", "<a\xc3\x28/>", ErrBadEncoding},
		{"overlong utf-8", "<body>\xc0\xaf</body>", ErrBadEncoding},
		{"surrogate utf-8", "<body>\xed\xa0\x80</body>", ErrBadEncoding},
		{"invalid utf-8 cdata", "<body><![CDATA[\xfe]]></body>", ErrBadEncoding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := next(t, tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("Next(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hi") && strings.Contains(tc.in, "hi") {
				t.Errorf("error %q shows the peer's data", err)
			}
		})
	}
}

func TestLimitErrors(t *testing.T) {
	lim := Limits{MaxStanzaBytes: 100, MaxDepth: 3, MaxAttrs: 3}
	tests := []struct {
		name, in string
		want     error
	}{
		{"size exact", `<message>` + strings.Repeat("x", 100-19) + `</message>`, nil},
		{"size over", `<message>` + strings.Repeat("x", 100-18) + `</message>`, ErrTooLarge},
		{"size over in tag", `<message to='` + strings.Repeat("x", 200), ErrTooLarge},
		{"size over in name", `<` + strings.Repeat("x", 200), ErrTooLarge},
		{"depth exact", `<a><b><c/></b></a>`, nil},
		{"depth over", `<a><b><c><d/></c></b></a>`, ErrTooLarge},
		{"attrs exact", `<a b='1' c='2' xmlns:d='urn:d'/>`, nil},
		{"attrs over", `<a b='1' c='2' d='3' e='4'/>`, ErrTooLarge},
		{"declarations count", `<a xmlns='urn:a' xmlns:b='urn:b' xmlns:c='urn:c' d='4'/>`, ErrTooLarge},
		{"declarations in scope exact", `<a xmlns:a='urn:a'><b xmlns:b='urn:b'><c xmlns:c='urn:c'/></b></a>`, nil},
		{"declarations in scope over", `<a xmlns:a='urn:a' xmlns:d='urn:d'><b xmlns:b='urn:b'><c xmlns:c='urn:c'/></b></a>`, ErrTooLarge},
		{"declarations popped", `<a xmlns:a='urn:a' xmlns:d='urn:d'><b xmlns:b='urn:b'/><b xmlns:b='urn:b'/><b xmlns:b='urn:b'/></a>`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The header counts against MaxAttrs too.
			hdr := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
			r := NewReader(strings.NewReader(hdr+tc.in+"<r/>"), lim)
			if _, err := r.Header(); err != nil {
				t.Fatal(err)
			}
			got, err := r.Next()
			if !errors.Is(err, tc.want) || tc.want == nil && err != nil {
				t.Errorf("Next(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			_, perr := Parse([]byte(tc.in), lim)
			if !errors.Is(perr, tc.want) || tc.want == nil && perr != nil {
				t.Errorf("Parse(%q) = %v; want %v", tc.in, perr, tc.want)
			}
		})
	}
}

func TestStreamEnd(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"closed", `<message/> </stream:stream>`, 1, "EOF"},
		{"closed with space", `<message/></stream:stream >`, 1, "EOF"},
		{"data after close ignored", `</stream:stream><message`, 0, "EOF"},
		{"cut between stanzas", `<message/> `, 1, "UnexpectedEOF"},
		{"cut in stanza", `<message><body>hi`, 0, "UnexpectedEOF"},
		{"cut in tag", `<message to='a`, 0, "UnexpectedEOF"},
		{"cut in cdata", `<message><![CDATA[x`, 0, "UnexpectedEOF"},
		{"cut in utf-8", "<message>\xc3", 0, "UnexpectedEOF"},
		{"cut in reference", "<message>&am", 0, "UnexpectedEOF"},
		{"cut in CR", "<message>\r", 0, "UnexpectedEOF"},
		{"cut in markup", "<message><", 0, "UnexpectedEOF"},
		{"nothing", ``, 0, "UnexpectedEOF"},
		{"keepalives", "\n \n\t<r/>\n\n</stream:stream>", 1, "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, els, err := readAll(strings.NewReader(clientHdr+tc.in), Limits{})
			if len(els) != tc.n || errClass(err) != tc.want {
				t.Errorf("reading %q: %d elements, %v; want %d, %s", tc.in, len(els), err, tc.n, tc.want)
			}
		})
	}

	// An error is final.
	r := NewReader(strings.NewReader(clientHdr+`<a><!-- x --></a><r/>`), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if !errors.Is(err1, ErrRestricted) || err2 != err1 {
		t.Errorf("Next() = %v, then %v; want the same restricted error twice", err1, err2)
	}

	// A self-closed header is a stream that ends at once.
	r = NewReader(strings.NewReader(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() after <stream/> = %v, want EOF", err)
	}
}

// TestRelease: a released reader gives its buffer back, reads no more of
// its source, and the next stream reads from a buffer of the pool.
func TestRelease(t *testing.T) {
	for len(freeBufs) > 0 {
		<-freeBufs
	}
	src := strings.NewReader(clientHdr + `<message/><message/>`)
	r := NewReader(src, Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if len(freeBufs) != 1 {
		t.Errorf("%d buffers in the pool after Release, want 1", len(freeBufs))
	}
	if el, err := r.Next(); err == nil {
		t.Errorf("Next() after Release = <%s/>, want an error", el.Local)
	}
	r.Release() // twice is harmless
	if len(freeBufs) != 1 {
		t.Errorf("%d buffers in the pool after a second Release, want 1", len(freeBufs))
	}

	// Parse's buffer is the caller's: never pooled.
	data := []byte(strings.Repeat(" ", bufSize-len(`<r/>`)) + `<r/>`)
	if _, err := Parse(data, Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(freeBufs) != 1 {
		t.Errorf("Parse pooled its caller's data")
	}
	<-freeBufs
}

func TestCallOrder(t *testing.T) {
	r := NewReader(strings.NewReader(clientHdr), Limits{})
	if _, err := r.Next(); err == nil {
		t.Error("Next() before Header() = nil error")
	}
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Header(); err == nil {
		t.Error("second Header() = nil error")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     *xmlel.Element
		wantErr  string
	}{
		{"message", `<message xmlns='jabber:client' to='a'/>`, el("", "message", "to", "a"), "ok"},
		{"websocket open", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com" version="1.0" />`,
			el("urn:ietf:params:xml:ns:xmpp-framing", "open", "to", "example.com", "version", "1.0"), "ok"},
		{"bosh body", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message xmlns='jabber:client'/><iq xmlns='jabber:server'/></body>`,
			el("http://jabber.org/protocol/httpbind", "body", "rid", "1").Append(el("", "message"), el("", "iq")), "ok"},
		{"no namespace", `<a/>`, el("", "a"), "ok"},
		{"surrounding whitespace", "\n <a/> \r\n", el("", "a"), "ok"},
		{"declaration", `<?xml version='1.0'?><a/>`, el("", "a"), "ok"},
		{"empty", ``, nil, "NotWellFormed"},
		{"whitespace", `  `, nil, "NotWellFormed"},
		{"two elements", `<a/><b/>`, nil, "NotWellFormed"},
		{"trailing text", `<a/>x`, nil, "NotWellFormed"},
		{"truncated", `<a><b/>`, nil, "NotWellFormed"},
		{"end tag", `</a>`, nil, "NotWellFormed"},
		{"comment", `<a/><!---->`, nil, "NotWellFormed"},
		{"comment inside", `<a><!----></a>`, nil, "Restricted"},
		{"stream prefix undeclared", `<stream:features/>`, nil, "BadPrefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in), Limits{})
			if errClass(err) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %v, %v; want %v, %s", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	_, err := Parse([]byte(`<a><b/>`), Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Parse(truncated) = %v, want it to wrap io.ErrUnexpectedEOF too", err)
	}
	// Parse must not keep or change the caller's bytes.
	data := []byte(`<message xmlns='jabber:client' to='somebody@example.com'><body>hello there</body></message>`)
	orig := bytes.Clone(data)
	got, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	if got.Attr("to") != "somebody@example.com" || got.ChildText("", "body") != "hello there" {
		t.Errorf("Parse result changed with its input: %v", got)
	}
	copy(data, orig)
}

// TestSharedSlices checks that an element's attribute and child slices,
// cut from shared arrays, do not overwrite their neighbours when appended to.
func TestSharedSlices(t *testing.T) {
	e, err := Parse([]byte(`<a x='1'><b y='2'>t</b><c z='3'/></a>`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, c := e.Elements()[0], e.Elements()[1]
	e.SetAttr("new", "v")
	b.SetAttr("new", "w")
	b.AppendText("more")
	if c.Attr("z") != "3" || b.Attr("y") != "2" || e.Attr("x") != "1" || len(e.Children) != 2 {
		t.Errorf("appending to one element changed another: %v", e)
	}
}

// TestTransientReadError checks that a read error other than EOF leaves
// the reader where it was, so that a read deadline can be retried.
func TestTransientReadError(t *testing.T) {
	in := clientHdr + `<message to='a@b'><body>hello</body></message>`
	src := &flakyReader{data: []byte(in), failAt: len(clientHdr) + 12}
	r := NewReader(src, Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	if err != errFlaky {
		t.Fatalf("Next() = %v, want the source's error", err)
	}
	got, err := r.Next()
	if err != nil || got.String() != `<message to='a@b'><body>hello</body></message>` {
		t.Errorf("Next() after the error = %v, %v", got, err)
	}
}

var errFlaky = errors.New("timeout")

// flakyReader returns data one byte at a time and fails once at failAt.
type flakyReader struct {
	data   []byte
	off    int
	failAt int
}

func (f *flakyReader) Read(p []byte) (int, error) {
	if f.off == f.failAt {
		f.failAt = -1
		return 0, errFlaky
	}
	if f.off == len(f.data) {
		return 0, io.EOF
	}
	p[0] = f.data[f.off]
	f.off++
	return 1, nil
}

func TestReset(t *testing.T) {
	r := NewReader(strings.NewReader(clientHdr+`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><garbage`), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Next(); err != nil || e.Local != "starttls" {
		t.Fatalf("Next() = %v, %v", e, err)
	}
	// After STARTTLS the stream restarts on the TLS connection; the
	// bytes buffered from before are dropped.
	r.Reset(strings.NewReader(serverHdr + `<db:result/></stream:stream>`))
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if r.ContentNS() != "jabber:server" {
		t.Errorf("ContentNS() = %q after Reset", r.ContentNS())
	}
	if e, err := r.Next(); err != nil || !e.Is("jabber:server:dialback", "result") {
		t.Fatalf("Next() = %v, %v", e, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() = %v, want EOF", err)
	}
}

func TestIntern(t *testing.T) {
	seen := map[string]bool{}
	for i, s := range internTable[1:] {
		if got := intern([]byte(s)); int(got) != i+1 {
			t.Errorf("intern(%q) = %d, want %d", s, got, i+1)
		}
		if seen[s] || len(s) > maxInterned {
			t.Errorf("internTable[%d] = %q is a duplicate or too long", i+1, s)
		}
		seen[s] = true
	}
	for _, s := range []string{"", "Message", "messages", strings.Repeat("x", 100)} {
		if got := intern([]byte(s)); got != 0 {
			t.Errorf("intern(%q) = %d, want 0", s, got)
		}
	}
	if internTable[nsXMLIndex] != xmlel.NSXML {
		t.Errorf("nsXMLIndex is wrong")
	}
}

// TestParseStoredNamespacedAttributes checks that an element that came
// in on a stream, with as many namespaced attributes as the stream
// allows and their prefixes declared further up, reads back once the
// server wrote it on its own: it then declares each namespace itself,
// twice the attributes a stream allows.
func TestParseStoredNamespacedAttributes(t *testing.T) {
	n := defaultMaxAttrs / 2
	var decls, attrs strings.Builder
	for i := range n {
		fmt.Fprintf(&decls, " xmlns:p%d='urn:p%d'", i, i)
		fmt.Fprintf(&attrs, " p%d:a='%d'", i, i)
	}
	in, err := Parse([]byte("<message"+decls.String()+"><x xmlns='urn:x'"+attrs.String()+"/></message>"), Limits{})
	if err != nil {
		t.Fatalf("the stanza is within a stream's limits: %v", err)
	}
	stored := in.Child("urn:x", "x").String()
	if _, err := Parse([]byte(stored), Limits{MaxStanzaBytes: len(stored) + 1}); err == nil {
		t.Fatalf("stored on its own, %s is within a stream's limits: the test tests nothing", stored)
	}
	el, err := ParseStored(stored)
	if err != nil {
		t.Fatalf("ParseStored(%s) = %v", stored, err)
	}
	if len(el.Attrs) != n {
		t.Errorf("read back with %d attributes, want %d", len(el.Attrs), n)
	}
}
