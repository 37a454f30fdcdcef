package pep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Access models (XEP-0060 §4.5). authorize is not offered: PEP has no
// subscription approval.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessWhitelist = "whitelist"
)

// Values of send_last_published_item (XEP-0060 §16.4.3).
const (
	SendNever            = "never"
	SendOnSub            = "on_sub"
	SendOnSubAndPresence = "on_sub_and_presence"
)

// Form types of node configuration and publish options (XEP-0060 §16.4).
const (
	FormNodeConfig     = "http://jabber.org/protocol/pubsub#node_config"
	FormPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

// NodeConfig is the configuration of one node, stored as JSON.
type NodeConfig struct {
	AccessModel  string   `json:"access_model"`
	RosterGroups []string `json:"roster_groups,omitempty"`
	PersistItems bool     `json:"persist_items"`
	// MaxItems is the largest number of items the node keeps; 0 is
	// "max", the service's limit, whatever it is when the node is used.
	MaxItems             int    `json:"max_items"`
	SendLast             string `json:"send_last"`
	DeliverNotifications bool   `json:"deliver_notifications"`
	DeliverPayloads      bool   `json:"deliver_payloads"`
	NotifyRetract        bool   `json:"notify_retract"`
	NotifyDelete         bool   `json:"notify_delete"`
	NotificationType     string `json:"notification_type"`
	Title                string `json:"title,omitempty"`
	Description          string `json:"description,omitempty"`
	Type                 string `json:"type,omitempty"`
}

// DefaultConfig is the configuration of a new node: the "smart
// defaults" of XEP-0163 §5 (presence access, notifications with
// payloads, the last item sent on presence) and one persistent item,
// which is what a PEP payload such as a tune or a nickname needs.
func DefaultConfig() NodeConfig {
	return NodeConfig{
		AccessModel:          AccessPresence,
		PersistItems:         true,
		MaxItems:             1,
		SendLast:             SendOnSubAndPresence,
		DeliverNotifications: true,
		DeliverPayloads:      true,
		NotifyRetract:        true,
		NotifyDelete:         true,
		NotificationType:     "headline",
	}
}

func (c NodeConfig) encode() string {
	b, _ := json.Marshal(c) // a struct of strings, bools and ints always marshals
	return string(b)
}

func decodeConfig(s string) (NodeConfig, error) {
	c := DefaultConfig()
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return NodeConfig{}, fmt.Errorf("pep: stored node config: %w", err)
	}
	return c, nil
}

// maxItems returns the number of items the node keeps under the
// service's limit: one when items are not persistent (the last one, for
// send_last_published_item, XEP-0060 §6.5.7 lets a service return it).
func (c NodeConfig) maxItems(limit int) int {
	switch {
	case !c.PersistItems:
		return 1
	case c.MaxItems == 0 || c.MaxItems > limit:
		return limit
	}
	return c.MaxItems
}

// form is a submitted data form (XEP-0004): its FORM_TYPE and the values
// of each other field.
type form struct {
	typ    string
	fields map[string][]string
	order  []string
}

// parseForm reads a data form of type submit (or cancel, which has no
// fields).
func parseForm(x *xmlel.Element) (form, error) {
	f := form{fields: map[string][]string{}}
	if x == nil || !x.Is(stanza.NSDataForm, "x") {
		return f, stanza.E(stanza.BadRequest).WithText("a data form is required")
	}
	for _, fld := range x.Elements() {
		if !fld.Is(stanza.NSDataForm, "field") {
			continue
		}
		name := fld.Attr("var")
		var values []string
		for _, v := range fld.Elements() {
			if v.Is(stanza.NSDataForm, "value") {
				values = append(values, v.Text())
			}
		}
		if name == "FORM_TYPE" {
			if len(values) > 0 {
				f.typ = values[0]
			}
			continue
		}
		if name == "" {
			continue
		}
		if _, dup := f.fields[name]; dup {
			return f, stanza.E(stanza.BadRequest).WithText("field " + name + " is given twice")
		}
		f.fields[name] = values
		f.order = append(f.order, name)
	}
	return f, nil
}

// errBadOption is the error for a configuration option samtal does not
// know or a value it cannot take (XEP-0060 §8.2.5.3).
func errBadOption(name string) error {
	return stanza.E(stanza.NotAcceptable).WithText("unsupported value or option: " + name)
}

func parseBool(v string) (bool, bool) {
	switch v {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// one returns the single value of a field, "" for none.
func one(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// set changes one option of c from submitted values; limit is the
// service's item limit, which "max" stands for.
func (c *NodeConfig) set(name string, values []string, limit int) error {
	v := one(values)
	boolean := func(p *bool) error {
		b, ok := parseBool(v)
		if !ok {
			return errBadOption(name)
		}
		*p = b
		return nil
	}
	switch name {
	case "pubsub#access_model":
		switch v {
		case AccessOpen, AccessPresence, AccessRoster, AccessWhitelist:
			c.AccessModel = v
		default:
			return errBadOption(name)
		}
	case "pubsub#roster_groups_allowed":
		c.RosterGroups = slices.Clone(values)
	case "pubsub#persist_items":
		return boolean(&c.PersistItems)
	case "pubsub#max_items":
		if v == "max" {
			c.MaxItems = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > limit {
			return errBadOption(name)
		}
		c.MaxItems = n
	case "pubsub#send_last_published_item":
		switch v {
		case SendNever, SendOnSub, SendOnSubAndPresence:
			c.SendLast = v
		default:
			return errBadOption(name)
		}
	case "pubsub#deliver_notifications":
		return boolean(&c.DeliverNotifications)
	case "pubsub#deliver_payloads":
		return boolean(&c.DeliverPayloads)
	case "pubsub#notify_retract":
		return boolean(&c.NotifyRetract)
	case "pubsub#notify_delete":
		return boolean(&c.NotifyDelete)
	case "pubsub#notification_type":
		if v != "headline" && v != "normal" {
			return errBadOption(name)
		}
		c.NotificationType = v
	case "pubsub#title":
		c.Title = v
	case "pubsub#description":
		c.Description = v
	case "pubsub#type":
		c.Type = v
	case "pubsub#publish_model":
		// PEP has one publisher, the owner (XEP-0163 §3).
		if v != "publishers" {
			return errBadOption(name)
		}
	default:
		return errBadOption(name)
	}
	return nil
}

// apply changes c by every field of a submitted form.
func (c *NodeConfig) apply(f form, limit int) error {
	for _, name := range f.order {
		if err := c.set(name, f.fields[name], limit); err != nil {
			return err
		}
	}
	return nil
}

// meets reports whether c satisfies a publish-options precondition
// (XEP-0060 §7.1.5): the option, set on a copy of c, changes nothing.
// "max" for max_items is met by a node that keeps as many items as the
// service allows.
func (c NodeConfig) meets(name string, values []string, limit int) (bool, error) {
	d := c
	if err := d.set(name, values, limit); err != nil {
		return false, err
	}
	if name == "pubsub#max_items" {
		return c.maxItems(limit) == d.maxItems(limit) && c.PersistItems == d.PersistItems, nil
	}
	return c.equal(d), nil
}

func (c NodeConfig) equal(d NodeConfig) bool {
	return c.AccessModel == d.AccessModel && slices.Equal(c.RosterGroups, d.RosterGroups) &&
		c.PersistItems == d.PersistItems && c.MaxItems == d.MaxItems && c.SendLast == d.SendLast &&
		c.DeliverNotifications == d.DeliverNotifications && c.DeliverPayloads == d.DeliverPayloads &&
		c.NotifyRetract == d.NotifyRetract && c.NotifyDelete == d.NotifyDelete &&
		c.NotificationType == d.NotificationType && c.Title == d.Title &&
		c.Description == d.Description && c.Type == d.Type
}

func field(typ, name, label string, values ...string) *xmlel.Element {
	f := xmlel.New(stanza.NSDataForm, "field", "type", typ, "var", name, "label", label)
	for _, v := range values {
		f.Append(xmlel.TextElement(stanza.NSDataForm, "value", v))
	}
	return f
}

func listSingle(name, label, value string, options ...string) *xmlel.Element {
	f := field("list-single", name, label, value)
	for _, o := range options {
		f.Append(xmlel.New(stanza.NSDataForm, "option").Append(xmlel.TextElement(stanza.NSDataForm, "value", o)))
	}
	return f
}

func boolField(name, label string, v bool) *xmlel.Element {
	s := "0"
	if v {
		s = "1"
	}
	return field("boolean", name, label, s)
}

// form returns c as a configuration form (XEP-0060 §8.2.4).
func (c NodeConfig) form(limit int) *xmlel.Element {
	max := "max"
	if c.MaxItems > 0 {
		max = strconv.Itoa(c.MaxItems)
	}
	return xmlel.New(stanza.NSDataForm, "x", "type", "form").Append(
		field("hidden", "FORM_TYPE", "", FormNodeConfig),
		field("text-single", "pubsub#title", "A friendly name for the node", c.Title),
		field("text-single", "pubsub#description", "A description of the node", c.Description),
		field("text-single", "pubsub#type", "The type of node data, usually specified by the namespace of the payload", c.Type),
		listSingle("pubsub#access_model", "Who may subscribe and retrieve items", c.AccessModel,
			AccessOpen, AccessPresence, AccessRoster, AccessWhitelist),
		field("list-multi", "pubsub#roster_groups_allowed", "Roster groups allowed to subscribe", c.RosterGroups...),
		listSingle("pubsub#publish_model", "Who may publish", "publishers", "publishers"),
		boolField("pubsub#persist_items", "Persist items to storage", c.PersistItems),
		field("text-single", "pubsub#max_items", "Max # of items to persist (at most "+strconv.Itoa(limit)+"; max for as many as allowed)", max),
		listSingle("pubsub#send_last_published_item", "When to send the last published item", c.SendLast,
			SendNever, SendOnSub, SendOnSubAndPresence),
		boolField("pubsub#deliver_notifications", "Deliver event notifications", c.DeliverNotifications),
		boolField("pubsub#deliver_payloads", "Deliver payloads with event notifications", c.DeliverPayloads),
		boolField("pubsub#notify_retract", "Notify subscribers when items are removed from the node", c.NotifyRetract),
		boolField("pubsub#notify_delete", "Notify subscribers when the node is deleted", c.NotifyDelete),
		listSingle("pubsub#notification_type", "Specify the delivery style for notifications", c.NotificationType, "headline", "normal"),
	)
}

// ConfigForm returns a stored node configuration as a node_config data
// form (XEP-0060 §16.4), the form an account export carries for each node
// (XEP-0227 §3.10.1). limit is the service's item limit.
func ConfigForm(stored string, limit int) (*xmlel.Element, error) {
	c, err := decodeConfig(stored)
	if err != nil {
		return nil, err
	}
	return c.form(limit), nil
}

// ConfigFromForm reads a node_config data form, as an account export
// carries it, into the stored form of a node configuration. Options this
// service does not know, or values it cannot take, are left at their
// defaults and named in ignored (XEP-0227 §3.10.1: importers SHOULD ignore
// options they do not recognise); a max_items above limit becomes "max".
func ConfigFromForm(x *xmlel.Element, limit int) (stored string, ignored []string, err error) {
	f, err := parseForm(x)
	if err != nil {
		return "", nil, err
	}
	c := DefaultConfig()
	for _, name := range f.order {
		values := f.fields[name]
		if name == "pubsub#max_items" {
			if n, err := strconv.Atoi(one(values)); err == nil && n > limit {
				values = []string{"max"}
			}
		}
		if err := c.set(name, values, limit); err != nil {
			ignored = append(ignored, name)
		}
	}
	return c.encode(), ignored, nil
}
