package jid

// ParseSlow parses s without the ASCII fast path, through PRECIS for
// every part: the reference the fast path is compared with.
func ParseSlow(s string) (JID, error) { return parse(s, false) }
