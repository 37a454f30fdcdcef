package xmlstream_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"samtal.org/samtal/internal/xmlstream"
)

func ExampleReader() {
	conn := strings.NewReader(`<?xml version='1.0'?>` +
		`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>` +
		`<message to='juliet@example.com' type='chat'><body>Wherefore art thou?</body></message>` +
		"\n" + // a white space keepalive
		`<presence/>` +
		`</stream:stream>`)
	r := xmlstream.NewReader(conn, xmlstream.Limits{})
	hdr, err := r.Header()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hdr.Space, hdr.Local, hdr.Attr("to"), r.ContentNS())
	for {
		st, err := r.Next()
		if err == io.EOF {
			fmt.Println("stream closed")
			return
		}
		if err != nil {
			// errors.Is(err, xmlstream.ErrNotWellFormed) and so on
			// tell the caller which stream error to send.
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %q\n", st.Local, st.ChildText("", "body"))
	}
	// Output:
	// http://etherx.jabber.org/streams stream example.com jabber:client
	// message "Wherefore art thou?"
	// presence ""
	// stream closed
}

func ExampleParse() {
	frame := []byte(`<message xmlns='jabber:client' to='romeo@example.net'><body>&lt;3</body></message>`)
	st, err := xmlstream.Parse(frame, xmlstream.Limits{})
	fmt.Println(st, err)

	_, err = xmlstream.Parse([]byte(`<message><!-- hi --></message>`), xmlstream.Limits{})
	fmt.Println(errors.Is(err, xmlstream.ErrRestricted))
	// Output:
	// <message to='romeo@example.net'><body>&lt;3</body></message> <nil>
	// true
}
