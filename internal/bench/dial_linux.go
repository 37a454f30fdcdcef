package bench

import "syscall"

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 0x18

// bindLater lets a socket bound to a source address take its port at
// connect rather than at bind. Bound at bind, the kernel searches the
// whole port range of that address for one no socket holds, the ports
// its earlier logins left in TIME_WAIT included; at connect it needs only
// one that no connection to the same server holds. The generator opens
// thousands of connections a second from a handful of addresses, so the
// search would be its cost, and the machine's, not the server's.
func bindLater(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
