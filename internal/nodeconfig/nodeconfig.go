// Package nodeconfig is the configuration of a publish-subscribe node
// (XEP-0060 §16.4): the options a node keeps, their node_config and
// publish-options data forms (XEP-0004), and the precondition check of
// publish-options (§7.1.5). Both the personal services of accounts
// (XEP-0163, internal/pep) and the host's pubsub service
// (internal/pubsub) use it; each says through Rules which values it
// offers. It is pure: no I/O, no storage.
package nodeconfig

import (
	"encoding/json"
	"slices"
	"strconv"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Access models (XEP-0060 §4.5).
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessAuthorize = "authorize"
	AccessWhitelist = "whitelist"
)

// Publish models (XEP-0060 §16.4.3, pubsub#publish_model).
const (
	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"
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

// Config is the configuration of one node, stored as JSON.
type Config struct {
	AccessModel  string   `json:"access_model"`
	RosterGroups []string `json:"roster_groups,omitempty"`
	// PublishModel is "" for PublishPublishers, so that nodes stored
	// before the option existed keep their meaning.
	PublishModel string `json:"publish_model,omitempty"`
	PersistItems bool   `json:"persist_items"`
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

// Rules are what a service offers: the values of the list options
// (the first of each is its default) and the item limit that "max"
// stands for.
type Rules struct {
	Limit         int
	AccessModels  []string
	PublishModels []string
	SendLast      []string
}

// Encode returns c as stored.
func (c Config) Encode() string {
	b, _ := json.Marshal(c) // a struct of strings, bools and ints always marshals
	return string(b)
}

// Publish returns the publish model, PublishPublishers for "".
func (c Config) Publish() string {
	if c.PublishModel == "" {
		return PublishPublishers
	}
	return c.PublishModel
}

// Kept returns the number of items the node keeps under the service's
// limit: one when items are not persistent (the last one, for
// send_last_published_item, XEP-0060 §6.5.7 lets a service return it).
func (c Config) Kept(limit int) int {
	switch {
	case !c.PersistItems:
		return 1
	case c.MaxItems == 0 || c.MaxItems > limit:
		return limit
	}
	return c.MaxItems
}

// Form is a submitted data form (XEP-0004): its FORM_TYPE and the
// values of each other field, in the order given.
type Form struct {
	Type   string
	Fields map[string][]string
	Order  []string
}

// Add appends a field to f.
func (f *Form) Add(name string, values ...string) {
	if f.Fields == nil {
		f.Fields = map[string][]string{}
	}
	f.Fields[name] = values
	f.Order = append(f.Order, name)
}

// ParseForm reads a data form of type submit (or cancel, which has no
// fields); the errors are the stanza errors to answer with.
func ParseForm(x *xmlel.Element) (Form, error) {
	f := Form{Fields: map[string][]string{}}
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
				f.Type = values[0]
			}
			continue
		}
		if name == "" {
			continue
		}
		if _, dup := f.Fields[name]; dup {
			return f, stanza.E(stanza.BadRequest).WithText("field " + name + " is given twice")
		}
		f.Add(name, values...)
	}
	return f, nil
}

// ErrBadOption is the error for a configuration option a service does
// not know or a value it cannot take (XEP-0060 §8.2.5.3).
func ErrBadOption(name string) error {
	return stanza.E(stanza.NotAcceptable).WithText("unsupported value or option: " + name)
}

// NSErrors is the namespace of the pubsub-specific error conditions
// (XEP-0060 §16.2).
const NSErrors = "http://jabber.org/protocol/pubsub#errors"

// Error returns a stanza error with a pubsub-specific condition
// (XEP-0060 §7.1.3 and on).
func Error(c stanza.Condition, app string) stanza.Error {
	return stanza.E(c).WithExtra(xmlel.New(NSErrors, app))
}

// Unsupported is the error for a pubsub feature a service does not have
// (XEP-0060 §7.1.3.1 and others).
func Unsupported(feature string) stanza.Error {
	return stanza.E(stanza.FeatureNotImplemented).WithExtra(xmlel.New(NSErrors, "unsupported", "feature", feature))
}

// RetractNotify reads the notify attribute of a retract request
// (XEP-0060 §7.2.2.1): nil when there is none, for the node's
// notify_retract to decide.
func RetractNotify(v string) (*bool, error) {
	if v == "" {
		return nil, nil
	}
	b, ok := dataform.ParseBool(v)
	if !ok {
		return nil, stanza.E(stanza.BadRequest)
	}
	return &b, nil
}

// One returns the single value of a field, "" for none.
func One(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// Set changes one option of c from submitted values.
func (c *Config) Set(name string, values []string, r Rules) error {
	v := One(values)
	boolean := func(p *bool) error {
		b, ok := dataform.ParseBool(v)
		if !ok {
			return ErrBadOption(name)
		}
		*p = b
		return nil
	}
	choice := func(p *string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return ErrBadOption(name)
		}
		*p = v
		return nil
	}
	switch name {
	case "pubsub#access_model":
		return choice(&c.AccessModel, r.AccessModels)
	case "pubsub#roster_groups_allowed":
		if !slices.Contains(r.AccessModels, AccessRoster) {
			return ErrBadOption(name)
		}
		c.RosterGroups = slices.Clone(values)
	case "pubsub#publish_model":
		if err := choice(&c.PublishModel, r.PublishModels); err != nil {
			return err
		}
		if c.PublishModel == PublishPublishers {
			c.PublishModel = ""
		}
	case "pubsub#persist_items":
		return boolean(&c.PersistItems)
	case "pubsub#max_items":
		if v == "max" {
			c.MaxItems = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > r.Limit {
			return ErrBadOption(name)
		}
		c.MaxItems = n
	case "pubsub#send_last_published_item":
		return choice(&c.SendLast, r.SendLast)
	case "pubsub#deliver_notifications":
		return boolean(&c.DeliverNotifications)
	case "pubsub#deliver_payloads":
		return boolean(&c.DeliverPayloads)
	case "pubsub#notify_retract":
		return boolean(&c.NotifyRetract)
	case "pubsub#notify_delete":
		return boolean(&c.NotifyDelete)
	case "pubsub#notification_type":
		return choice(&c.NotificationType, []string{"headline", "normal"})
	case "pubsub#title":
		c.Title = v
	case "pubsub#description":
		c.Description = v
	case "pubsub#type":
		c.Type = v
	default:
		return ErrBadOption(name)
	}
	return nil
}

// Apply changes c by every field of a submitted form.
func (c *Config) Apply(f Form, r Rules) error {
	for _, name := range f.Order {
		if err := c.Set(name, f.Fields[name], r); err != nil {
			return err
		}
	}
	return nil
}

// Meets reports whether c satisfies a publish-options precondition
// (XEP-0060 §7.1.5): the option, set on a copy of c, changes nothing.
// "max" for max_items is met by a node that keeps as many items as the
// service allows. The error is for an option or value c cannot have.
func (c Config) Meets(name string, values []string, r Rules) (bool, error) {
	d := c
	d.RosterGroups = slices.Clone(c.RosterGroups)
	if err := d.Set(name, values, r); err != nil {
		return false, err
	}
	if name == "pubsub#max_items" {
		return c.Kept(r.Limit) == d.Kept(r.Limit) && c.PersistItems == d.PersistItems, nil
	}
	return c.Equal(d), nil
}

// Equal reports whether c and d are the same configuration.
func (c Config) Equal(d Config) bool {
	return c.AccessModel == d.AccessModel && slices.Equal(c.RosterGroups, d.RosterGroups) &&
		c.PublishModel == d.PublishModel &&
		c.PersistItems == d.PersistItems && c.MaxItems == d.MaxItems && c.SendLast == d.SendLast &&
		c.DeliverNotifications == d.DeliverNotifications && c.DeliverPayloads == d.DeliverPayloads &&
		c.NotifyRetract == d.NotifyRetract && c.NotifyDelete == d.NotifyDelete &&
		c.NotificationType == d.NotificationType && c.Title == d.Title &&
		c.Description == d.Description && c.Type == d.Type
}

// Field returns a form field with its values.
func Field(typ, name, label string, values ...string) *xmlel.Element {
	f := xmlel.New(stanza.NSDataForm, "field", "type", typ, "var", name, "label", label)
	for _, v := range values {
		f.Append(xmlel.TextElement(stanza.NSDataForm, "value", v))
	}
	return f
}

// ListSingle returns a list-single form field offering options.
func ListSingle(name, label, value string, options ...string) *xmlel.Element {
	f := Field("list-single", name, label, value)
	for _, o := range options {
		f.Append(xmlel.New(stanza.NSDataForm, "option").Append(xmlel.TextElement(stanza.NSDataForm, "value", o)))
	}
	return f
}

// BoolField returns a boolean form field.
func BoolField(name, label string, v bool) *xmlel.Element {
	s := "0"
	if v {
		s = "1"
	}
	return Field("boolean", name, label, s)
}

// Form returns c as a configuration form (XEP-0060 §8.2.4) offering
// what r allows.
func (c Config) Form(r Rules) *xmlel.Element {
	max := "max"
	if c.MaxItems > 0 {
		max = strconv.Itoa(c.MaxItems)
	}
	x := xmlel.New(stanza.NSDataForm, "x", "type", "form").Append(
		Field("hidden", "FORM_TYPE", "", FormNodeConfig),
		Field("text-single", "pubsub#title", "A friendly name for the node", c.Title),
		Field("text-single", "pubsub#description", "A description of the node", c.Description),
		Field("text-single", "pubsub#type", "The type of node data, usually specified by the namespace of the payload", c.Type),
		ListSingle("pubsub#access_model", "Who may subscribe and retrieve items", c.AccessModel, r.AccessModels...))
	if slices.Contains(r.AccessModels, AccessRoster) {
		x.Append(Field("list-multi", "pubsub#roster_groups_allowed", "Roster groups allowed to subscribe", c.RosterGroups...))
	}
	return x.Append(
		ListSingle("pubsub#publish_model", "Who may publish", c.Publish(), r.PublishModels...),
		BoolField("pubsub#persist_items", "Persist items to storage", c.PersistItems),
		Field("text-single", "pubsub#max_items", "Max # of items to persist (at most "+strconv.Itoa(r.Limit)+"; max for as many as allowed)", max),
		ListSingle("pubsub#send_last_published_item", "When to send the last published item", c.SendLast, r.SendLast...),
		BoolField("pubsub#deliver_notifications", "Deliver event notifications", c.DeliverNotifications),
		BoolField("pubsub#deliver_payloads", "Deliver payloads with event notifications", c.DeliverPayloads),
		BoolField("pubsub#notify_retract", "Notify subscribers when items are removed from the node", c.NotifyRetract),
		BoolField("pubsub#notify_delete", "Notify subscribers when the node is deleted", c.NotifyDelete),
		ListSingle("pubsub#notification_type", "Specify the delivery style for notifications", c.NotificationType, "headline", "normal"),
	)
}
