// Package version answers two questions about the server itself, asked
// of a host domain: its software version, with Software Version
// (XEP-0092), and its clock, with Entity Time (XEP-0202).
//
// Both are answered on iq.Server only: a user's bare JID does not run
// software of its own, and the server must not answer for the user's
// clients, which answer for themselves at their full JIDs.
package version
