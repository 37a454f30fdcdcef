package nodeconfig_test

import (
	"testing"

	"samtal.org/samtal/internal/nodeconfig"
)

func TestRules(t *testing.T) {
	r := nodeconfig.Rules{
		Limit:         10,
		AccessModels:  []string{nodeconfig.AccessOpen, nodeconfig.AccessWhitelist},
		PublishModels: []string{nodeconfig.PublishPublishers, nodeconfig.PublishOpen},
		SendLast:      []string{nodeconfig.SendNever},
	}
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"pubsub#access_model", "whitelist", true},
		{"pubsub#access_model", "presence", false},
		{"pubsub#roster_groups_allowed", "Friends", false},
		{"pubsub#publish_model", "open", true},
		{"pubsub#publish_model", "subscribers", false},
		{"pubsub#send_last_published_item", "on_sub", false},
		{"pubsub#max_items", "10", true},
		{"pubsub#max_items", "11", false},
		{"pubsub#max_items", "max", true},
		{"pubsub#deliver_payloads", "yes", false},
		{"pubsub#frobnicate", "1", false},
	} {
		var c nodeconfig.Config
		if err := c.Set(tc.name, []string{tc.value}, r); (err == nil) != tc.ok {
			t.Errorf("Set(%s, %s) = %v, want ok %v", tc.name, tc.value, err, tc.ok)
		}
	}
	// The default publish model is stored as "", so that a precondition
	// of "publishers" holds for nodes made before the option existed.
	c := nodeconfig.Config{AccessModel: nodeconfig.AccessOpen, PersistItems: true}
	if ok, err := c.Meets("pubsub#publish_model", []string{"publishers"}, r); !ok || err != nil {
		t.Errorf("Meets(publish_model publishers) = %v, %v, want true", ok, err)
	}
	if ok, err := c.Meets("pubsub#max_items", []string{"max"}, r); !ok || err != nil {
		t.Errorf("Meets(max_items max) = %v, %v, want true", ok, err)
	}
	if ok, _ := c.Meets("pubsub#access_model", []string{"whitelist"}, r); ok {
		t.Error("Meets(access_model whitelist) of an open node = true")
	}
	if n, err := nodeconfig.RetractNotify("true"); err != nil || n == nil || !*n {
		t.Errorf("RetractNotify(true) = %v, %v", n, err)
	}
	if n, err := nodeconfig.RetractNotify(""); err != nil || n != nil {
		t.Errorf("RetractNotify(\"\") = %v, %v, want nil", n, err)
	}
	if _, err := nodeconfig.RetractNotify("maybe"); err == nil {
		t.Error("RetractNotify(maybe) succeeded")
	}
}
