// Package webclient holds the built-in web client: converse.js
// (MPL-2.0) with its OMEMO library (libomemo, GPL-3.0), configured for
// this server's WebSocket endpoint, and samtal's login page around it.
//
// The page and its script (files/index.html, samtal.js, samtal.css) are
// part of the source; converse.js is copied into files/dist by the npm
// build in web/ (scripts/webclient.sh), and the binary embeds whatever is
// there when it is built. Without it the binary still runs and says that
// the web client was not built.
package webclient

import (
	"embed"
	"io/fs"
)

//go:embed all:files
var files embed.FS

// Files returns the web client's files, rooted at the page.
func Files() fs.FS {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		panic(err) // "files" is a valid path: cannot happen
	}
	return sub
}

// Built reports whether converse.js was built into the binary.
func Built() bool {
	_, err := fs.Stat(Files(), "dist/converse.min.js")
	return err == nil
}
