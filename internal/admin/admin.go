// Package admin offers the service administration commands of XEP-0133
// to each host's administrators, the accounts its configuration names:
// adding and removing accounts, disabling and enabling them, changing
// their passwords, ending their sessions, counting and listing users,
// and announcing to everyone online. An administrator administers the
// accounts of its own host only. No command shows what users wrote, or
// to whom.
package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// FormType is the FORM_TYPE of the commands' forms, and the prefix of
// their nodes (XEP-0133 §6).
const FormType = "http://jabber.org/protocol/admin"

// maxListed bounds the users one list shows, whatever the requester asks.
const maxListed = 10000

// Accounts changes accounts; *register.Register does, with the same
// effects as a user's own in-band registration, password change and
// removal.
type Accounts interface {
	CreateAccount(ctx context.Context, user jid.JID, password string) error
	SetPassword(ctx context.Context, user jid.JID, password string) error
	RemoveAccount(ctx context.Context, user jid.JID) error
	// SetDisabled disables an account, ending its sessions, or enables
	// it again (XEP-0133 §4.3, §4.4).
	SetDisabled(ctx context.Context, user jid.JID, disabled bool) error
}

// Lister lists the accounts of a domain, all or the disabled ones;
// storage.Accounts does.
type Lister interface {
	List(ctx context.Context, domain string) ([]string, error)
	ListDisabled(ctx context.Context, domain string) ([]string, error)
}

// Service runs the commands.
type Service struct {
	admins   map[jid.JID]bool
	accounts Accounts
	lister   Lister
	router   *router.Router
}

// Register offers the commands on cmds to the administrators, bare JIDs
// of the hosts. With no administrator it offers nothing.
func Register(cmds *adhoc.Service, admins []jid.JID, accounts Accounts, lister Lister, r *router.Router) *Service {
	s := &Service{admins: make(map[jid.JID]bool), accounts: accounts, lister: lister, router: r}
	for _, a := range admins {
		s.admins[a.Bare()] = true
	}
	if len(s.admins) == 0 {
		return s
	}
	for _, c := range []adhoc.Command{
		{Node: FormType + "#add-user", Name: "Add User", Form: s.addUserForm, Run: s.addUser},
		{Node: FormType + "#delete-user", Name: "Delete User", Form: s.accountsForm("Deleting Users", "The accounts to delete, with all they hold"), Run: s.deleteUser},
		{Node: FormType + "#disable-user", Name: "Disable User", Form: s.accountsForm("Disabling Users", "The accounts to disable: their sessions end, and nobody logs in to them until they are enabled"), Run: s.setDisabled(true)},
		{Node: FormType + "#reenable-user", Name: "Re-Enable User", Form: s.accountsForm("Re-Enabling Users", "The accounts to enable again"), Run: s.setDisabled(false)},
		{Node: FormType + "#change-user-password", Name: "Change User Password", Form: s.passwordForm, Run: s.changePassword},
		{Node: FormType + "#end-user-session", Name: "End User Session", Form: s.accountsForm("Ending Sessions", "The accounts (all their sessions) or full JIDs (one session) whose sessions end"), Run: s.endSession},
		{Node: FormType + "#get-registered-users-num", Name: "Get Number of Registered Users", Run: s.registeredNum},
		{Node: FormType + "#get-disabled-users-num", Name: "Get Number of Disabled Users", Run: s.disabledNum},
		{Node: FormType + "#get-disabled-users-list", Name: "Get List of Disabled Users", Form: s.listForm("Requesting List of Disabled Users"), Run: s.disabledList},
		{Node: FormType + "#get-online-users-num", Name: "Get Number of Online Users", Run: s.onlineNum},
		{Node: FormType + "#get-online-users-list", Name: "Get List of Online Users", Form: s.listForm("Requesting List of Online Users"), Run: s.onlineList},
		{Node: FormType + "#announce", Name: "Send Announcement to Online Users", Form: s.announceForm, Run: s.announce},
	} {
		c.Allowed = s.isAdmin
		cmds.Add(c)
	}
	return s
}

// isAdmin reports whether a requester is an administrator of its host.
func (s *Service) isAdmin(from jid.JID) bool { return s.admins[from.Bare()] }

// form is a command's form with the FORM_TYPE field first.
func form(title, instructions string, fields ...dataform.Field) dataform.Form {
	return dataform.Form{
		Title: title, Instructions: instructions,
		Fields: append([]dataform.Field{{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{FormType}}}, fields...),
	}
}

// required marks a field the requester must fill in (XEP-0004 §3.2).
func required(f dataform.Field) dataform.Field {
	f.Extra = append(f.Extra, xmlel.New(dataform.NS, "required"))
	return f
}

// account reads a bare JID of an account of the administrator's host.
func account(from jid.JID, v string) (jid.JID, error) {
	u, err := jid.Parse(strings.TrimSpace(v))
	if err != nil || u.Local() == "" || u.IsFull() {
		return jid.JID{}, stanza.E(stanza.BadRequest).WithText(fmt.Sprintf("%q is not an account's JID (name@%s)", v, from.Domain()))
	}
	if u.Domain() != from.Domain() {
		return jid.JID{}, stanza.E(stanza.NotAllowed).WithText("you administer the accounts of " + from.Domain() + " only")
	}
	return u, nil
}

// accountAndPassword are the fields of an account and its password.
func accountAndPassword(accountLabel string) []dataform.Field {
	return []dataform.Field{
		required(dataform.Field{Var: "accountjid", Type: dataform.JIDSingle, Label: accountLabel}),
		required(dataform.Field{Var: "password", Type: dataform.TextPrivate, Label: "The password for this account"}),
	}
}

func (s *Service) addUserForm(context.Context, jid.JID) dataform.Form {
	return form("Adding a User", "Fill out this form to add a user.", append(accountAndPassword("The Jabber ID for the account to be added"),
		required(dataform.Field{Var: "password-verify", Type: dataform.TextPrivate, Label: "Retype password"}))...)
}

// accountPassword reads the account and password fields.
func accountPassword(from jid.JID, f dataform.Form) (jid.JID, string, error) {
	u, err := account(from, f.Value("accountjid"))
	return u, f.Value("password"), err
}

func (s *Service) addUser(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	u, pw, err := accountPassword(from, f)
	if err != nil {
		return adhoc.Result{}, err
	}
	if pw != f.Value("password-verify") {
		return adhoc.Result{}, stanza.E(stanza.NotAcceptable).WithText("the passwords differ")
	}
	if err := s.accounts.CreateAccount(ctx, u, pw); err != nil {
		return adhoc.Result{}, err
	}
	return adhoc.Note("The account " + u.String() + " was created."), nil
}

// accountsForm is the form of the commands on a list of JIDs.
func (s *Service) accountsForm(title, label string) func(context.Context, jid.JID) dataform.Form {
	return func(context.Context, jid.JID) dataform.Form {
		return form(title, "Fill out this form.", required(dataform.Field{Var: "accountjids", Type: dataform.JIDMulti, Label: label}))
	}
}

// accountJIDs reads the JIDs of the accountjids field; full says whether
// a full JID is allowed.
func accountJIDs(from jid.JID, f dataform.Form, full bool) ([]jid.JID, error) {
	fd, _ := f.Field("accountjids")
	var out []jid.JID
	for _, v := range fd.Values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		u, err := jid.Parse(strings.TrimSpace(v))
		if err == nil && full && u.IsFull() {
			if _, err := account(from, u.Bare().String()); err != nil {
				return nil, err
			}
			out = append(out, u)
			continue
		}
		u, err = account(from, v)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, stanza.E(stanza.BadRequest).WithText("no account given")
	}
	return out, nil
}

func (s *Service) deleteUser(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	users, err := accountJIDs(from, f, false)
	if err != nil {
		return adhoc.Result{}, err
	}
	return eachAccount(users, "Deleted", func(u jid.JID) error { return s.accounts.RemoveAccount(ctx, u) })
}

// eachAccount runs f on each account and notes which it was done to
// (under done) and which do not exist; any other error ends it.
func eachAccount(users []jid.JID, done string, f func(jid.JID) error) (adhoc.Result, error) {
	var changed, missing []string
	for _, u := range users {
		switch err := f(u); {
		case err == nil:
			changed = append(changed, u.String())
		case isCondition(err, stanza.ItemNotFound):
			missing = append(missing, u.String())
		default:
			return adhoc.Result{}, err
		}
	}
	return adhoc.Note(listNote(done, changed) + listNote("No such account", missing)), nil
}

// setDisabled is the command that disables accounts (disabled) or
// enables them again. An administrator cannot disable its own account:
// it would end the session it asks from, and perhaps the last that can
// enable anyone again.
func (s *Service) setDisabled(disabled bool) func(context.Context, jid.JID, dataform.Form) (adhoc.Result, error) {
	done := "Enabled"
	if disabled {
		done = "Disabled"
	}
	return func(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
		users, err := accountJIDs(from, f, false)
		if err != nil {
			return adhoc.Result{}, err
		}
		if disabled && slices.ContainsFunc(users, func(u jid.JID) bool { return u.Equal(from.Bare()) }) {
			return adhoc.Result{}, stanza.E(stanza.NotAllowed).WithText("you cannot disable your own account")
		}
		return eachAccount(users, done, func(u jid.JID) error { return s.accounts.SetDisabled(ctx, u, disabled) })
	}
}

func isCondition(err error, c stanza.Condition) bool {
	var e stanza.Error
	return errors.As(err, &e) && e.Condition == c
}

// listNote is "label: a, b. " or nothing for an empty list.
func listNote(label string, l []string) string {
	if len(l) == 0 {
		return ""
	}
	return label + ": " + strings.Join(l, ", ") + ". "
}

func (s *Service) passwordForm(context.Context, jid.JID) dataform.Form {
	return form("Changing a User Password", "Fill out this form to change a user's password.", accountAndPassword("The Jabber ID for this account")...)
}

func (s *Service) changePassword(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	u, pw, err := accountPassword(from, f)
	if err != nil {
		return adhoc.Result{}, err
	}
	if err := s.accounts.SetPassword(ctx, u, pw); err != nil {
		return adhoc.Result{}, err
	}
	return adhoc.Note("The password of " + u.String() + " was changed; its sessions go on until they end."), nil
}

// endSession ends the sessions of accounts, or single ones (XEP-0133
// §4.5): the clients may log in again.
func (s *Service) endSession(_ context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	targets, err := accountJIDs(from, f, true)
	if err != nil {
		return adhoc.Result{}, err
	}
	var sessions []router.Session
	for _, t := range targets {
		if t.IsFull() {
			if sess := s.router.Session(t); sess != nil {
				sessions = append(sessions, sess)
			}
			continue
		}
		for _, res := range s.router.Resources(t) {
			sessions = append(sessions, res.Session)
		}
	}
	for _, sess := range sessions {
		sess.CloseWithError(stream.Error{Condition: stream.Reset, Text: "the session was ended by an administrator"})
	}
	return adhoc.Note(fmt.Sprintf("%d sessions ended.", len(sessions))), nil
}

func (s *Service) registeredNum(ctx context.Context, from jid.JID, _ dataform.Form) (adhoc.Result, error) {
	users, err := s.lister.List(ctx, from.Domain())
	return countResult("registeredusersnum", "The number of registered users", users), err
}

// countResult is a counting command's result: how many users there are,
// in the field named v.
func countResult(v, label string, users []string) adhoc.Result {
	f := form("", "", dataform.Field{Var: v, Label: label, Values: []string{strconv.Itoa(len(users))}})
	return adhoc.Result{Form: &f}
}

// bound returns the full JIDs of a domain's users bound on every node of
// a cluster.
func (s *Service) bound(domain string) []jid.JID {
	var out []jid.JID
	// Each may not call back into the router: filter, then look up.
	s.router.Each(func(sess router.Session) {
		if j := sess.JID(); j.Domain() == domain && j.Local() != "" {
			out = append(out, j)
		}
	})
	return out
}

// online returns the users of a domain with at least one bound resource,
// on every node of a cluster, sorted.
func (s *Service) online(domain string) []string {
	seen := make(map[string]bool)
	var out []string
	for _, j := range s.bound(domain) {
		if b := j.Bare().String(); !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Service) onlineNum(_ context.Context, from jid.JID, _ dataform.Form) (adhoc.Result, error) {
	return countResult("onlineusersnum", "The number of online users", s.online(from.Domain())), nil
}

// listForm asks how many users a list shows at most (XEP-0133 §4.15,
// §4.16, §4.17).
func (s *Service) listForm(title string) func(context.Context, jid.JID) dataform.Form {
	return func(context.Context, jid.JID) dataform.Form {
		opts := []string{"25", "50", "75", "100", "150", "200", "none"}
		var extra []*xmlel.Element
		for _, o := range opts {
			extra = append(extra, xmlel.New(dataform.NS, "option", "label", o).Append(xmlel.TextElement(dataform.NS, "value", o)))
		}
		return form(title, "How many users should be shown at most?",
			dataform.Field{Var: "max_items", Type: dataform.ListSingle, Label: "Maximum number of items to show", Values: []string{"100"}, Extra: extra})
	}
}

// maxItems reads the list form's max_items: at most maxListed.
func maxItems(f dataform.Form) (int, error) {
	switch v := f.Value("max_items"); v {
	case "", "none":
		return maxListed, nil
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, stanza.E(stanza.BadRequest).WithText("max_items is a number or none")
		}
		return min(n, maxListed), nil
	}
}

// listResult is a list command's result: users, at most limit of them,
// in the field named v.
func listResult(v, label string, users []string, limit int) adhoc.Result {
	users = users[:min(len(users), limit)]
	out := form("", "", dataform.Field{Var: v, Type: dataform.JIDMulti, Label: label, Values: users})
	return adhoc.Result{Form: &out}
}

func (s *Service) onlineList(_ context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	limit, err := maxItems(f)
	if err != nil {
		return adhoc.Result{}, err
	}
	return listResult("onlineuserjids", "The list of all online users", s.online(from.Domain()), limit), nil
}

func (s *Service) disabledNum(ctx context.Context, from jid.JID, _ dataform.Form) (adhoc.Result, error) {
	users, err := s.lister.ListDisabled(ctx, from.Domain())
	return countResult("disabledusersnum", "The number of disabled users", users), err
}

func (s *Service) disabledList(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	limit, err := maxItems(f)
	if err != nil {
		return adhoc.Result{}, err
	}
	users, err := s.lister.ListDisabled(ctx, from.Domain())
	if err != nil {
		return adhoc.Result{}, err
	}
	return listResult("disableduserjids", "The list of all disabled users", users, limit), nil
}

func (s *Service) announceForm(context.Context, jid.JID) dataform.Form {
	return form("Making an Announcement", "Fill out this form to make an announcement to all active users of this service.",
		required(dataform.Field{Var: "announcement", Type: dataform.TextMulti, Label: "Announcement"}))
}

// announce sends a message from the host to every available resource of
// its users (XEP-0133 §4.23). Nobody offline gets it later: it is about
// now (a restart, say).
func (s *Service) announce(_ context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
	fd, _ := f.Field("announcement")
	text := strings.TrimSpace(strings.Join(fd.Values, "\n"))
	if text == "" {
		return adhoc.Result{}, stanza.E(stanza.BadRequest).WithText("the announcement is empty")
	}
	host, _ := jid.New("", from.Domain(), "")
	id := "announce-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	sent := 0
	for _, to := range s.bound(from.Domain()) {
		res, ok := s.router.Resource(to)
		if !ok || !res.Available {
			continue
		}
		msg := xmlel.New("", stanza.Message, "type", "normal", "from", host.String(), "to", to.String(), "id", id+strconv.Itoa(sent)).
			Append(xmlel.TextElement("", "body", text))
		res.Session.Send(msg)
		sent++
	}
	return adhoc.Note(fmt.Sprintf("Sent to %d online resources.", sent)), nil
}
