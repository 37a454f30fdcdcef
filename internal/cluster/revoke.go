package cluster

import (
	"github.com/nats-io/nats.go"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stream"
)

// An account disabled or removed on one node ends its sessions on every
// node. The node that stored the change ends those its router knows of,
// but a session another node bound a moment ago may not have reached the
// directory yet, and a session still logging in on another node read the
// account before the change. So every node revokes the account in its own
// router (router.Revoke), which ends what is bound there and refuses
// what logged in before.

const (
	subjectAccounts = "samtal.accounts"
	hdrText         = "Samtal-Text" // the stream error's text

	opRevoke   = "revoke"
	opUnrevoke = "unrevoke"
)

// Resources returns the account's bound resources on every node
// (router.Router.Resources).
func (n *Node) Resources(bare jid.JID) []router.Resource { return n.r.Resources(bare) }

// Revoke ends the account's sessions on every node with e, and makes
// every node refuse to bind a session that logged in before (see
// router.Router.Revoke). Call it once the change is stored.
func (n *Node) Revoke(bare jid.JID, e stream.Error) {
	n.r.Revoke(bare, e)
	msg := n.accountMsg(opRevoke, bare)
	msg.Header.Set(hdrCond, string(e.Condition))
	if e.Text != "" {
		msg.Header.Set(hdrText, e.Text)
	}
	n.publishNow(msg, "account change")
}

// Unrevoke lets the account's sessions bind again on every node: it was
// enabled again.
func (n *Node) Unrevoke(bare jid.JID) {
	n.r.Unrevoke(bare)
	n.publishNow(n.accountMsg(opUnrevoke, bare), "account change")
}

func (n *Node) accountMsg(op string, bare jid.JID) *nats.Msg {
	msg := nats.NewMsg(subjectAccounts)
	msg.Header.Set(hdrFrom, n.cfg.Node)
	msg.Header.Set(hdrOp, op)
	msg.Header.Set(hdrUser, bare.String())
	return msg
}

func (n *Node) onAccount(msg *nats.Msg) {
	if msg.Header.Get(hdrFrom) == n.cfg.Node {
		return
	}
	user, err := jid.Parse(msg.Header.Get(hdrUser))
	if err != nil {
		return
	}
	switch msg.Header.Get(hdrOp) {
	case opRevoke:
		cond := stream.Condition(msg.Header.Get(hdrCond))
		if cond == "" {
			cond = stream.NotAuthorized
		}
		n.r.Revoke(user.Bare(), stream.Error{Condition: cond, Text: msg.Header.Get(hdrText)})
	case opUnrevoke:
		n.r.Unrevoke(user.Bare())
	}
}
