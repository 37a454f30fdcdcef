package register

import (
	"context"
	"errors"
	"strings"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// handle answers jabber:iq:register from an authenticated user to their
// host or their own account (XEP-0077 §3.1, §3.2, §3.3).
func (r *Register) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	user := st.From.Bare()
	own := st.To.Equal(user) || (st.To.IsDomain() && st.To.Domain() == user.Domain())
	if user.Local() == "" || !own {
		// Only a user of this host has an account here to manage.
		return nil, stanza.E(stanza.Forbidden)
	}
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	if st.Type() == "get" {
		// XEP-0077 §3.1: an entity that is registered gets <registered/>
		// and what is on file; the password is not.
		return xmlel.New(NS, "query").Append(
			xmlel.TextElement(NS, "instructions", "You are registered. Send a new password to change it, or remove the account."),
			xmlel.New(NS, "registered"),
			xmlel.TextElement(NS, "username", user.Local()),
			xmlel.New(NS, "password"),
		), nil
	}
	if q.Child(NS, "remove") != nil {
		return nil, r.remove(ctx, st, user)
	}
	return nil, r.changePassword(ctx, q, user)
}

// changePassword sets new keys for the user (XEP-0077 §3.3).
func (r *Register) changePassword(ctx context.Context, q *xmlel.Element, user jid.JID) error {
	sub := parseSubmission(q)
	if sub.username == "" {
		// XEP-0077 §3.3: bad-request when the request is not complete.
		return stanza.E(stanza.BadRequest).WithText("the username is required")
	}
	if !sameUser(sub.username, user) {
		return stanza.E(stanza.Forbidden).WithText("you can only change your own password")
	}
	if sub.password == "" {
		// XEP-0077 §3.3: an empty password never replaces the existing
		// one.
		return stanza.E(stanza.NotAcceptable).WithText("the password must not be empty")
	}
	err := r.setPassword(ctx, user, sub.password)
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.RegistrationRequired)
	}
	return err
}

// setPassword gives an existing account new keys from password;
// storage.ErrNotFound when there is no such account.
func (r *Register) setPassword(ctx context.Context, user jid.JID, password string) error {
	keys, err := r.deriveKeys(password)
	if err != nil {
		return err
	}
	return r.accounts.SetKeys(ctx, user.String(), keys)
}

// sameUser reports whether username names the account user: its
// localpart, as XEP-0077 §3.3 sends it, or its bare JID, as the data
// forms of XEP-0077 §3.2 and §3.3 do.
func sameUser(username string, user jid.JID) bool {
	if strings.Contains(username, "@") {
		j, err := jid.Parse(username)
		return err == nil && j.Equal(user)
	}
	j, err := jid.New(username, user.Domain(), "")
	return err == nil && j.Equal(user)
}

// remove deletes the user's account (XEP-0077 §3.2): the result goes to
// the requesting session first, then every session of the account ends
// with <not-authorized/>, then OnRemove runs.
func (r *Register) remove(ctx context.Context, st *stanza.Stanza, user jid.JID) error {
	if len(st.Payload().Elements()) != 1 {
		// XEP-0077 §3.2: bad-request when <remove/> is not the only
		// child.
		return stanza.E(stanza.BadRequest)
	}
	err := r.accounts.Delete(ctx, user.String())
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.RegistrationRequired)
	}
	if err != nil {
		return err
	}
	sessions := r.sessions.Resources(user)
	result := st.Result()
	if st.El.Attr("to") == "" {
		// The request went to the account without a 'to': the answer
		// comes from the server with no 'from' (RFC 6120 §8.1.2.1).
		result.SetAttr("from", "")
	}
	for _, res := range sessions {
		if res.Session.JID().Equal(st.From) {
			res.Session.Send(result)
		}
	}
	r.removed(ctx, user)
	// The mux answers the request again; the session has ended, so that
	// copy is dropped. A request that did not come from one of the
	// account's sessions gets it.
	return nil
}

// removed finishes the removal of an account whose data is deleted.
func (r *Register) removed(ctx context.Context, user jid.JID) {
	r.log.Info("register: account removed", "host", user.Domain())
	// XEP-0077 §3.2: "the server SHOULD then return a <not-authorized/>
	// stream error and terminate all active sessions for the entity".
	r.sessions.Revoke(user, stream.Error{Condition: stream.NotAuthorized, Text: "account removed"})
	if r.cfg.OnRemove != nil {
		r.cfg.OnRemove(ctx, user)
	}
}

// CreateAccount makes an account with a password, as an administrator
// does (XEP-0133 §4.1): conflict when it exists, not-acceptable for a
// password the OpaqueString profile refuses or an empty one.
func (r *Register) CreateAccount(ctx context.Context, user jid.JID, password string) error {
	if password == "" {
		return stanza.E(stanza.NotAcceptable).WithText("the password must not be empty")
	}
	keys, err := r.deriveKeys(password)
	if err != nil {
		return err
	}
	err = r.accounts.Create(ctx, storage.Account{User: user.Bare().String(), Keys: keys})
	if errors.Is(err, storage.ErrExists) {
		return stanza.E(stanza.Conflict).WithText("the account exists")
	}
	if err == nil {
		r.log.Info("register: account created by an administrator", "host", user.Domain())
	}
	return err
}

// SetPassword replaces an account's password, as an administrator does
// (XEP-0133 §4.7): item-not-found when there is no such account. The
// account's sessions go on; ending them is another command.
func (r *Register) SetPassword(ctx context.Context, user jid.JID, password string) error {
	if password == "" {
		return stanza.E(stanza.NotAcceptable).WithText("the password must not be empty")
	}
	err := r.setPassword(ctx, user.Bare(), password)
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound).WithText("no such account")
	}
	return err
}

// SetDisabled disables an account or enables it again, as an
// administrator does (XEP-0133 §4.3, §4.4): a disabled account keeps all
// it holds, its sessions end with not-authorized, and every login to it
// fails with account-disabled until it is enabled. item-not-found when
// there is no such account.
func (r *Register) SetDisabled(ctx context.Context, user jid.JID, disabled bool) error {
	user = user.Bare()
	err := r.accounts.SetDisabled(ctx, user.String(), disabled)
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound).WithText("no such account")
	}
	if err != nil {
		return err
	}
	if !disabled {
		r.log.Info("register: account enabled by an administrator", "host", user.Domain())
		r.sessions.Unrevoke(user)
		return nil
	}
	r.log.Info("register: account disabled by an administrator", "host", user.Domain())
	r.sessions.Revoke(user, stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"})
	return nil
}

// RemoveAccount deletes an account and everything it has, as its own
// removal does (XEP-0133 §4.2): its sessions end with not-authorized.
// item-not-found when there is no such account.
func (r *Register) RemoveAccount(ctx context.Context, user jid.JID) error {
	user = user.Bare()
	err := r.accounts.Delete(ctx, user.String())
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound).WithText("no such account")
	}
	if err != nil {
		return err
	}
	r.removed(ctx, user)
	return nil
}
