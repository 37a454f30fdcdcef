//go:build !linux

package bench

import "syscall"

// bindLater does nothing where the port cannot wait for connect.
func bindLater(network, address string, c syscall.RawConn) error { return nil }
