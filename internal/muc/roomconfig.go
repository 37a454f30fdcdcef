package muc

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Form types of XEP-0045 §15.5.
const (
	formRoomConfig = "http://jabber.org/protocol/muc#roomconfig"
	formRoomInfo   = "http://jabber.org/protocol/muc#roominfo"
	formRequest    = "http://jabber.org/protocol/muc#request"
	formRegister   = "http://jabber.org/protocol/muc#register"
)

// maxText bounds the text fields of a room configuration.
const maxText = 1024

// roomConfig is a room's configuration, stored JSON-encoded.
type roomConfig struct {
	Name              string          `json:"name,omitempty"`
	Desc              string          `json:"desc,omitempty"`
	Lang              string          `json:"lang,omitempty"`
	Persistent        bool            `json:"persistent,omitempty"`
	Public            bool            `json:"public,omitempty"`
	MembersOnly       bool            `json:"members_only,omitempty"`
	Moderated         bool            `json:"moderated,omitempty"`
	PasswordProtected bool            `json:"password_protected,omitempty"`
	Password          string          `json:"password,omitempty"`
	WhoIs             string          `json:"whois"`
	MaxUsers          int             `json:"max_users"`
	ChangeSubject     bool            `json:"change_subject,omitempty"`
	AllowInvites      bool            `json:"allow_invites,omitempty"`
	AllowPM           string          `json:"allow_pm"`
	PresenceBroadcast map[string]bool `json:"presence_broadcast"`
	GetMemberList     map[string]bool `json:"get_member_list"`
	// Archive keeps the room's messages in its archive (MAM) and tells
	// occupants the room is logged (status 170).
	Archive         bool `json:"archive,omitempty"`
	MaxHistoryFetch int  `json:"max_history_fetch"`
}

// defaultConfig is the configuration of a new room.
func (s *Service) defaultConfig() roomConfig {
	return roomConfig{
		Public:            true,
		WhoIs:             whoisModerators,
		MaxUsers:          s.cfg.DefaultOccupants,
		AllowPM:           pmAnyone,
		PresenceBroadcast: map[string]bool{"moderator": true, "participant": true, "visitor": true},
		GetMemberList:     map[string]bool{"moderator": true, "participant": true, "visitor": true},
		Archive:           s.cfg.ArchiveDefault,
		// A client that asks for no particular history gets
		// HistoryDefault messages; one that asks, up to this.
		MaxHistoryFetch: s.cfg.HistoryMax,
	}
}

func (c *roomConfig) encode() string {
	b, _ := json.Marshal(c) // a struct of plain fields always encodes
	return string(b)
}

// decodeConfig reads what encode wrote. encode leaves out a boolean that
// is false, so a missing one is false, though new rooms start public and
// logged; and a role set it wrote is the whole set, where json.Unmarshal
// would add it to the default one. The defaults fill in only what a
// stored configuration lacks otherwise.
func (s *Service) decodeConfig(data string) (roomConfig, error) {
	def := s.defaultConfig()
	c := def
	c.Public, c.Archive = false, false
	c.PresenceBroadcast, c.GetMemberList = nil, nil
	err := json.Unmarshal([]byte(data), &c)
	if c.PresenceBroadcast == nil {
		c.PresenceBroadcast = def.PresenceBroadcast
	}
	if c.GetMemberList == nil {
		c.GetMemberList = def.GetMemberList
	}
	return c, err
}

// archiving reports whether messages go to the archive: only persistent
// rooms are stored, and so only they have one.
func (c *roomConfig) archiving() bool { return c.Archive && c.Persistent }

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

var roleOptions = []string{"moderator", "participant", "visitor"}

func setValues(set map[string]bool) []string {
	var out []string
	for _, r := range roleOptions {
		if set[r] {
			out = append(out, r)
		}
	}
	return out
}

func options(values ...string) []*xmlel.Element {
	var out []*xmlel.Element
	for i := 0; i+1 < len(values); i += 2 {
		out = append(out, xmlel.New(dataform.NS, "option", "label", values[i]).
			Append(xmlel.TextElement(dataform.NS, "value", values[i+1])))
	}
	return out
}

// form returns the owner's configuration form (§10.1.3, §10.2) with the
// current values, the full owner and admin lists included.
func (c *roomConfig) form(room jid.JID, owners, admins []string, maxUsers int) *xmlel.Element {
	title := "Configuration of " + room.String()
	f := dataform.Form{Type: dataform.TypeForm, Title: title, Fields: []dataform.Field{
		{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{formRoomConfig}},
		{Var: "muc#roomconfig_roomname", Type: dataform.TextSingle, Label: "Name", Values: []string{c.Name}},
		{Var: "muc#roomconfig_roomdesc", Type: dataform.TextSingle, Label: "Description", Values: []string{c.Desc}},
		{Var: "muc#roomconfig_lang", Type: dataform.TextSingle, Label: "Language of discussion", Values: []string{c.Lang}},
		{Var: "muc#roomconfig_persistentroom", Type: dataform.Boolean, Label: "Persistent (kept when the last occupant leaves)", Values: []string{boolValue(c.Persistent)}},
		{Var: "muc#roomconfig_publicroom", Type: dataform.Boolean, Label: "Listed in the directory of rooms", Values: []string{boolValue(c.Public)}},
		{Var: "muc#roomconfig_membersonly", Type: dataform.Boolean, Label: "Only members may enter", Values: []string{boolValue(c.MembersOnly)}},
		{Var: "muc#roomconfig_moderatedroom", Type: dataform.Boolean, Label: "Moderated (only participants speak)", Values: []string{boolValue(c.Moderated)}},
		{Var: "muc#roomconfig_passwordprotectedroom", Type: dataform.Boolean, Label: "A password is required to enter", Values: []string{boolValue(c.PasswordProtected)}},
		{Var: "muc#roomconfig_roomsecret", Type: dataform.TextPrivate, Label: "Password", Values: []string{c.Password}},
		{Var: "muc#roomconfig_whois", Type: dataform.ListSingle, Label: "Who may see the real addresses of occupants", Values: []string{c.WhoIs},
			Extra: options("Moderators", whoisModerators, "Anyone", whoisAnyone)},
		{Var: "muc#roomconfig_maxusers", Type: dataform.ListSingle, Label: "Maximum number of occupants", Values: []string{strconv.Itoa(c.MaxUsers)},
			Extra: maxUsersOptions(maxUsers)},
		{Var: "muc#roomconfig_changesubject", Type: dataform.Boolean, Label: "Participants may change the subject", Values: []string{boolValue(c.ChangeSubject)}},
		{Var: "muc#roomconfig_allowinvites", Type: dataform.Boolean, Label: "Members may invite others", Values: []string{boolValue(c.AllowInvites)}},
		{Var: "muc#roomconfig_allowpm", Type: dataform.ListSingle, Label: "Who may send private messages", Values: []string{c.AllowPM},
			Extra: options("Anyone", pmAnyone, "Anyone with voice", pmParticipants, "Moderators", pmModerators, "Nobody", pmNone)},
		{Var: "muc#roomconfig_presencebroadcast", Type: dataform.ListMulti, Label: "Roles whose presence is broadcast", Values: setValues(c.PresenceBroadcast),
			Extra: options("Moderator", "moderator", "Participant", "participant", "Visitor", "visitor")},
		{Var: "muc#roomconfig_getmemberlist", Type: dataform.ListMulti, Label: "Roles that may see the member list (non-anonymous rooms)", Values: setValues(c.GetMemberList),
			Extra: options("Moderator", "moderator", "Participant", "participant", "Visitor", "visitor")},
		{Var: "muc#roomconfig_enablelogging", Type: dataform.Boolean, Label: "Archive messages on the server (persistent rooms)", Values: []string{boolValue(c.Archive)}},
		{Var: "muc#maxhistoryfetch", Type: dataform.TextSingle, Label: "Messages of history sent on joining", Values: []string{strconv.Itoa(c.MaxHistoryFetch)}},
		{Var: "muc#roomconfig_roomadmins", Type: "jid-multi", Label: "Admins", Values: admins},
		{Var: "muc#roomconfig_roomowners", Type: "jid-multi", Label: "Owners", Values: owners},
	}}
	return f.Element()
}

func maxUsersOptions(limit int) []*xmlel.Element {
	var vals []string
	for _, n := range []int{10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000} {
		if n <= limit {
			vals = append(vals, strconv.Itoa(n), strconv.Itoa(n))
		}
	}
	return options(vals...)
}

// configChange is what applying a submitted form changed.
type configChange struct {
	owners, admins []jid.JID // full lists when the form had them
	hasOwners      bool
	hasAdmins      bool
}

// apply reads a submitted configuration form into c (§10.1.3, §10.2).
// Fields it does not know are ignored; values it cannot use are
// not-acceptable (§10.1.3: "the specified room configuration options
// violate one or more service policies").
func (c *roomConfig) apply(f dataform.Form, maxUsers int) (configChange, error) {
	var ch configChange
	if ft := f.FormType(); ft != "" && ft != formRoomConfig {
		return ch, stanza.E(stanza.BadRequest).WithText("FORM_TYPE is not " + formRoomConfig)
	}
	bad := func(field string) error {
		return stanza.E(stanza.NotAcceptable).WithText("invalid value of " + field)
	}
	for _, fd := range f.Fields {
		v := fd.Value()
		boolean := func(dst *bool) error {
			// Lenient: some clients write "True" and "False", or leave a
			// false value empty (slixmpp does both for untyped fields).
			t := strings.ToLower(strings.TrimSpace(v))
			if t == "" {
				t = "0"
			}
			b, ok := dataform.ParseBool(t)
			if !ok {
				return bad(fd.Var)
			}
			*dst = b
			return nil
		}
		text := func(dst *string) error {
			if len(v) > maxText || !utf8.ValidString(v) {
				return bad(fd.Var)
			}
			*dst = v
			return nil
		}
		roles := func(dst *map[string]bool) error {
			m := map[string]bool{}
			for _, r := range fd.Values {
				if !slices.Contains(roleOptions, r) {
					return bad(fd.Var)
				}
				m[r] = true
			}
			*dst = m
			return nil
		}
		var err error
		switch fd.Var {
		case "muc#roomconfig_roomname":
			err = text(&c.Name)
		case "muc#roomconfig_roomdesc":
			err = text(&c.Desc)
		case "muc#roomconfig_lang":
			err = text(&c.Lang)
		case "muc#roomconfig_persistentroom":
			err = boolean(&c.Persistent)
		case "muc#roomconfig_publicroom":
			err = boolean(&c.Public)
		case "muc#roomconfig_membersonly":
			err = boolean(&c.MembersOnly)
		case "muc#roomconfig_moderatedroom":
			err = boolean(&c.Moderated)
		case "muc#roomconfig_passwordprotectedroom":
			err = boolean(&c.PasswordProtected)
		case "muc#roomconfig_roomsecret":
			err = text(&c.Password)
		case "muc#roomconfig_changesubject":
			err = boolean(&c.ChangeSubject)
		case "muc#roomconfig_allowinvites":
			err = boolean(&c.AllowInvites)
		case "muc#roomconfig_enablelogging", "muc#roomconfig_enablearchiving":
			// enablearchiving is the name some services and clients use
			// for the same thing.
			err = boolean(&c.Archive)
		case "muc#roomconfig_whois":
			if v != whoisModerators && v != whoisAnyone {
				err = bad(fd.Var)
			}
			c.WhoIs = v
		case "muc#roomconfig_allowpm":
			switch v {
			case pmAnyone, pmParticipants, pmModerators, pmNone:
				c.AllowPM = v
			default:
				err = bad(fd.Var)
			}
		case "muc#roomconfig_maxusers":
			n, perr := strconv.Atoi(strings.TrimSpace(v))
			switch {
			case v == "none" || v == "":
				c.MaxUsers = maxUsers
			case perr != nil || n < 1 || n > maxUsers:
				err = stanza.E(stanza.NotAcceptable).WithText("the occupant limit must be from 1 to " + strconv.Itoa(maxUsers))
			default:
				c.MaxUsers = n
			}
		case "muc#maxhistoryfetch":
			n, perr := strconv.Atoi(strings.TrimSpace(v))
			if perr != nil || n < 0 {
				err = bad(fd.Var)
			}
			c.MaxHistoryFetch = n
		case "muc#roomconfig_presencebroadcast":
			err = roles(&c.PresenceBroadcast)
		case "muc#roomconfig_getmemberlist":
			err = roles(&c.GetMemberList)
		case "muc#roomconfig_roomowners", "muc#roomconfig_roomadmins":
			var list []jid.JID
			for _, s := range fd.Values {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				j, perr := jid.Parse(s)
				if perr != nil {
					return ch, stanza.E(stanza.JIDMalformed)
				}
				list = append(list, j.Bare())
			}
			if fd.Var == "muc#roomconfig_roomowners" {
				ch.owners, ch.hasOwners = list, true
			} else {
				ch.admins, ch.hasAdmins = list, true
			}
		}
		if err != nil {
			return ch, err
		}
	}
	if c.PasswordProtected && c.Password == "" {
		// §10.1.3: "because the password for a password-protected room
		// is blank".
		return ch, stanza.E(stanza.NotAcceptable).WithText("a password-protected room needs a password")
	}
	return ch, nil
}

// features returns the disco#info features that describe the room type
// (§6.4, §15.3).
func (c *roomConfig) features() []string {
	pick := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	return []string{
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(c.WhoIs == whoisAnyone, "muc_nonanonymous", "muc_semianonymous"),
		pick(c.PasswordProtected, "muc_passwordprotected", "muc_unsecured"),
	}
}
