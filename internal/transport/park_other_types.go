//go:build !linux

package transport

type parking struct{}
