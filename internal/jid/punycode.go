package jid

import (
	"math"
	"strings"
	"unicode/utf8"
)

// Punycode (RFC 3492), used only to turn A-labels into U-labels and to
// measure U-labels as A-labels. Inputs are single labels, so lengths are
// small; every arithmetic step is still checked for overflow (§6.4).
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
)

// pcAdapt is the bias adaptation function of RFC 3492 §6.1.
func pcAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

func pcThreshold(k, bias int) int {
	t := k - bias
	switch {
	case t < pcTMin:
		return pcTMin
	case t > pcTMax:
		return pcTMax
	}
	return t
}

func pcEncodeDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func pcDecodeDigit(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c-'0') + 26, true
	case 'a' <= c && c <= 'z':
		return int(c - 'a'), true
	case 'A' <= c && c <= 'Z':
		return int(c - 'A'), true
	}
	return 0, false
}

// punyEncode returns the Punycode form of s (without "xn--"), RFC 3492
// §6.3, with lower-case digits.
func punyEncode(s string) (string, bool) {
	var b strings.Builder
	total := 0
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			b.WriteByte(s[i])
		}
	}
	basic := b.Len()
	for range s {
		total++
	}
	if basic > 0 {
		b.WriteByte('-')
	}
	n, delta, bias, h := pcInitialN, 0, pcInitialBias, basic
	for h < total {
		m := math.MaxInt32
		for _, r := range s {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m - n) > (math.MaxInt32-delta)/(h+1) {
			return "", false
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range s {
			if int(r) < n {
				if delta++; delta == math.MaxInt32 {
					return "", false
				}
			}
			if int(r) != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := pcThreshold(k, bias)
				if q < t {
					break
				}
				b.WriteByte(pcEncodeDigit(t + (q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			b.WriteByte(pcEncodeDigit(q))
			bias = pcAdapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return b.String(), true
}

// punyDecode returns the Unicode string that the Punycode s (without
// "xn--") stands for, RFC 3492 §6.2.
func punyDecode(s string) (string, bool) {
	var out []rune
	pos := 0
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		for j := 0; j < i; j++ {
			if s[j] >= utf8.RuneSelf {
				return "", false
			}
			out = append(out, rune(s[j]))
		}
		pos = i + 1
	}
	n, i, bias := pcInitialN, 0, pcInitialBias
	for pos < len(s) {
		oldi, w := i, 1
		for k := pcBase; ; k += pcBase {
			if pos >= len(s) {
				return "", false
			}
			digit, ok := pcDecodeDigit(s[pos])
			pos++
			if !ok || digit > (math.MaxInt32-i)/w {
				return "", false
			}
			i += digit * w
			t := pcThreshold(k, bias)
			if digit < t {
				break
			}
			if w > math.MaxInt32/(pcBase-t) {
				return "", false
			}
			w *= pcBase - t
		}
		x := len(out) + 1
		bias = pcAdapt(i-oldi, x, oldi == 0)
		if i/x > math.MaxInt32-n {
			return "", false
		}
		n += i / x
		i %= x
		if n > utf8.MaxRune || (0xd800 <= n && n <= 0xdfff) {
			return "", false
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
	}
	return string(out), true
}
