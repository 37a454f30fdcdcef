package pep

import (
	"encoding/json"
	"fmt"
	"strconv"

	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/xmlel"
)

// Access models (XEP-0060 §4.5). authorize is not offered: PEP has no
// subscription approval.
const (
	AccessOpen      = nodeconfig.AccessOpen
	AccessPresence  = nodeconfig.AccessPresence
	AccessRoster    = nodeconfig.AccessRoster
	AccessWhitelist = nodeconfig.AccessWhitelist
)

// Values of send_last_published_item (XEP-0060 §16.4.3).
const (
	SendNever            = nodeconfig.SendNever
	SendOnSub            = nodeconfig.SendOnSub
	SendOnSubAndPresence = nodeconfig.SendOnSubAndPresence
)

// Form types of node configuration and publish options (XEP-0060 §16.4).
const (
	FormNodeConfig     = nodeconfig.FormNodeConfig
	FormPublishOptions = nodeconfig.FormPublishOptions
)

// NodeConfig is the configuration of one node, stored as JSON.
type NodeConfig = nodeconfig.Config

// form is a submitted data form.
type form = nodeconfig.Form

// rules are what PEP offers under an item limit: one publisher per node,
// the owner (XEP-0163 §3).
func rules(limit int) nodeconfig.Rules {
	return nodeconfig.Rules{
		Limit:         limit,
		AccessModels:  []string{AccessOpen, AccessPresence, AccessRoster, AccessWhitelist},
		PublishModels: []string{nodeconfig.PublishPublishers},
		SendLast:      []string{SendNever, SendOnSub, SendOnSubAndPresence},
	}
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

func decodeConfig(s string) (NodeConfig, error) {
	c := DefaultConfig()
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return NodeConfig{}, fmt.Errorf("pep: stored node config: %w", err)
	}
	return c, nil
}

// ConfigForm returns a stored node configuration as a node_config data
// form (XEP-0060 §16.4), the form an account export carries for each node
// (XEP-0227 §3.10.1). limit is the service's item limit.
func ConfigForm(stored string, limit int) (*xmlel.Element, error) {
	c, err := decodeConfig(stored)
	if err != nil {
		return nil, err
	}
	return c.Form(rules(limit)), nil
}

// ConfigFromForm reads a node_config data form, as an account export
// carries it, into the stored form of a node configuration. Options this
// service does not know, or values it cannot take, are left at their
// defaults and named in ignored (XEP-0227 §3.10.1: importers SHOULD ignore
// options they do not recognise); a max_items above limit becomes "max".
func ConfigFromForm(x *xmlel.Element, limit int) (stored string, ignored []string, err error) {
	f, err := nodeconfig.ParseForm(x)
	if err != nil {
		return "", nil, err
	}
	c := DefaultConfig()
	for _, name := range f.Order {
		values := f.Fields[name]
		if name == "pubsub#max_items" {
			if n, err := strconv.Atoi(nodeconfig.One(values)); err == nil && n > limit {
				values = []string{"max"}
			}
		}
		if err := c.Set(name, values, rules(limit)); err != nil {
			ignored = append(ignored, name)
		}
	}
	return c.Encode(), ignored, nil
}
