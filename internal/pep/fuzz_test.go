package pep

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/private"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/vcard"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
	"samtal.org/samtal/internal/xmpptest"
)

// FuzzConfigForm feeds arbitrary data forms to the node configuration
// parser, as owners submit them (XEP-0060 §8.2.4) and account imports
// carry them (XEP-0227 §3.10.1). Nothing may panic, an accepted form
// gives a configuration within the limit, and a configuration read from a
// form comes back the same from its own form.
func FuzzConfigForm(f *testing.F) {
	const limit = 50
	for _, seed := range []string{
		DefaultConfig().Form(rules(limit)).String(),
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#persist_items'><value>true</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#roster_groups_allowed'><value>a</value><value>b</value></field><field var='pubsub#access_model'><value>roster</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>9999</value></field><field var='pubsub#unknown'><value>1</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>a</value></field><field var='pubsub#title'><value>b</value></field></x>`,
		`<x xmlns='jabber:x:data' type='cancel'/>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := xmlstream.Parse(data, xmlstream.Limits{})
		if err != nil {
			return
		}
		// As an owner's configure request: every option must be known.
		if form, err := nodeconfig.ParseForm(x); err == nil {
			c := DefaultConfig()
			if err := c.Apply(form, rules(limit)); err == nil {
				if c.Kept(limit) < 1 || c.Kept(limit) > limit {
					t.Fatalf("max items %d outside 1..%d", c.Kept(limit), limit)
				}
				back, ignored, err := ConfigFromForm(c.Form(rules(limit)), limit)
				if err != nil || len(ignored) > 0 {
					t.Fatalf("the form of %+v does not read back: %v, ignored %q", c, err, ignored)
				}
				if d, err := decodeConfig(back); err != nil || !d.Equal(c) {
					t.Fatalf("round trip: %+v, want %+v (%v)", d, c, err)
				}
			}
		}
		// As an import: unknown options are ignored, not fatal.
		stored, _, err := ConfigFromForm(x, limit)
		if err != nil {
			return
		}
		c, err := decodeConfig(stored)
		if err != nil {
			t.Fatalf("ConfigFromForm stored %q, which does not decode: %v", stored, err)
		}
		if _, err := ConfigForm(stored, limit); err != nil {
			t.Fatalf("ConfigForm(%q): %v", stored, err)
		}
		if c.Kept(limit) < 1 || c.Kept(limit) > limit {
			t.Fatalf("imported max items %d outside 1..%d", c.Kept(limit), limit)
		}
	})
}

// Bounds of one FuzzService input and of what it may cause: stanzas sent
// to sessions and to other servers, and the size of each.
const (
	fuzzServiceInput   = 8192
	fuzzServiceOutputs = 500
	fuzzServiceBytes   = 256 << 10
	fuzzHost           = "example.org"
)

// fuzzConfig keeps the store small: every node holds few items, every
// user few nodes, so that a long run stays as fast as a short one.
// fuzzConfig bounds subscriptions too, or a fuzzed subscriber could
// subscribe any number of its full JIDs and make one publication send
// more than fuzzServiceOutputs notifications.
var fuzzConfig = Config{MaxNodes: 12, MaxItems: 8, MaxItemBytes: 4096, MaxVCardBytes: 8192, MaxSubscribers: 8, MaxSubscriptions: 16}

// Capabilities the fuzzed presence can announce, by verification string:
// the cache is filled beforehand, so that what a resource wants is known
// at once and each input's notifications come while it is handled. A ver
// the cache lacks starts a disco#info query that nobody answers.
var fuzzCaps = map[string][]string{
	"all": {
		"eu.siacs.conversations.axolotl.devicelist+notify", "urn:xmpp:omemo:2:devices+notify",
		NSBookmarks2 + notifyExt, NSBookmarks + notifyExt, NSAvatarMeta + notifyExt, NSAvatarData + notifyExt,
		"http://jabber.org/protocol/tune+notify",
	},
	"omemo": {"eu.siacs.conversations.axolotl.devicelist+notify", "urn:xmpp:omemo:2:devices+notify"},
	"none":  {},
}

// Pieces of the seeds of FuzzService.
const (
	pubsubSet  = "<iq type='set' id='s'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
	pubsubEnd  = "</pubsub></iq>"
	ownerSet   = "<iq type='set' id='o'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>"
	ownerGet   = "<iq type='get' id='o'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>"
	avatarPNG  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	avatarSHA1 = "4a5eb7171b58e08a6881721e3b43d5a44419a2be"
	capsVer    = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/client' ver='"
)

// publishOptions returns a publish-options form (XEP-0060 §7.1.5) with
// the fields given as name, value pairs.
func publishOptions(kv ...string) string {
	x := "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormPublishOptions + "</value></field>"
	for i := 0; i+1 < len(kv); i += 2 {
		x += "<field var='pubsub#" + kv[i] + "'><value>" + kv[i+1] + "</value></field>"
	}
	return x + "</x></publish-options>"
}

// fuzzServiceSeeds are what clients send to PEP, each as a selector byte
// for the sender (0 and 1 are alice's resources, 2 is her contact bob, 3
// the stranger carol, 4 her remote contact dave, 5 a remote stranger)
// and the stanza. They run in order, on one service.
var fuzzServiceSeeds = []string{
	// OMEMO (XEP-0384 and its legacy form): device lists and bundles,
	// published open so that contacts can start sessions.
	"\x00" + pubsubSet + "<publish node='eu.siacs.conversations.axolotl.devicelist'><item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='1337'/></list></item></publish>" + publishOptions("access_model", "open") + pubsubEnd,
	"\x00" + pubsubSet + "<publish node='eu.siacs.conversations.axolotl.bundles:1337'><item id='current'><bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BQ==</signedPreKeyPublic><signedPreKeySignature>AA==</signedPreKeySignature><identityKey>BQ==</identityKey><prekeys><preKeyPublic preKeyId='1'>BQ==</preKeyPublic><preKeyPublic preKeyId='2'>BQ==</preKeyPublic></prekeys></bundle></item></publish>" + publishOptions("access_model", "open") + pubsubEnd,
	"\x01" + pubsubSet + "<publish node='urn:xmpp:omemo:2:devices'><item id='current'><devices xmlns='urn:xmpp:omemo:2'><device id='1337' label='phone'/><device id='4242'/></devices></item></publish>" + publishOptions("access_model", "open", "max_items", "max") + pubsubEnd,
	"\x01" + pubsubSet + "<publish node='urn:xmpp:omemo:2:bundles'><item id='4242'><bundle xmlns='urn:xmpp:omemo:2'><spk id='1'>AA==</spk><spks>AA==</spks><ik>AA==</ik><prekeys><pk id='1'>AA==</pk></prekeys></bundle></item></publish>" + publishOptions("max_items", "max", "access_model", "open") + pubsubEnd,
	// The same node with options it does not have: precondition-not-met.
	"\x00" + pubsubSet + "<publish node='urn:xmpp:omemo:2:bundles'><item id='1337'><bundle xmlns='urn:xmpp:omemo:2'/></item></publish>" + publishOptions("max_items", "3") + pubsubEnd,
	// Avatars (XEP-0084): data, then metadata naming it, which the
	// vCard follows (XEP-0398); empty metadata disables it.
	"\x00" + pubsubSet + "<publish node='urn:xmpp:avatar:data'><item id='" + avatarSHA1 + "'><data xmlns='urn:xmpp:avatar:data'>" + avatarPNG + "</data></item></publish>" + publishOptions("access_model", "open") + pubsubEnd,
	"\x00" + pubsubSet + "<publish node='urn:xmpp:avatar:metadata'><item id='" + avatarSHA1 + "'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='70' id='" + avatarSHA1 + "' height='1' width='1' type='image/png'/></metadata></item></publish>" + publishOptions("access_model", "open") + pubsubEnd,
	"\x01" + pubsubSet + "<publish node='urn:xmpp:avatar:metadata'><item><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish>" + pubsubEnd,
	"\x00<iq type='set' id='v'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>" + avatarPNG + "</BINVAL></PHOTO></vCard></iq>",
	// Bookmarks (XEP-0402, XEP-0048 in PEP and in private storage).
	"\x00" + pubsubSet + "<publish node='urn:xmpp:bookmarks:1'><item id='coven@chat.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1' name='The Coven' autojoin='true'><nick>JC</nick><extensions><state xmlns='http://myclient.example/bookmark/state' minimized='true'/></extensions></conference></item></publish>" + publishOptions("persist_items", "true", "max_items", "max", "send_last_published_item", "never", "access_model", "whitelist") + pubsubEnd,
	"\x01" + pubsubSet + "<publish node='storage:bookmarks'><item id='current'><storage xmlns='storage:bookmarks'><conference jid='council@chat.shakespeare.lit' autojoin='true' name='Council'><nick>Puck</nick><password>secret</password></conference><url name='Site' url='https://example.org/'/></storage></item></publish>" + publishOptions("persist_items", "true", "access_model", "whitelist") + pubsubEnd,
	"\x00<iq type='set' id='pv'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='coven@chat.shakespeare.lit' autojoin='false' name='Coven'/><conference jid='Room@Chat.Shakespeare.lit/x' name='full'/></storage></query></iq>",
	// Asked for the bookmarks of a deleted XEP-0402 node, the service
	// migrates those of private storage first (XEP-0411 §3).
	"\x01" + ownerSet + "<delete node='urn:xmpp:bookmarks:1'/>" + pubsubEnd,
	"\x01<iq type='get' id='i'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>",
	"\x01<iq type='get' id='pg'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>",
	"\x00" + pubsubSet + "<retract node='urn:xmpp:bookmarks:1' notify='true'><item id='coven@chat.shakespeare.lit'/></retract>" + pubsubEnd,
	"\x00" + pubsubSet + "<retract node='urn:xmpp:omemo:2:bundles' notify='0'><item id='4242'/></retract>" + pubsubEnd,
	// Items requests: the owner's, a contact's, a stranger's, a remote
	// contact's and a remote stranger's.
	"\x02<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata' max_items='1'/></pubsub></iq>",
	"\x02<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:bundles'><item id='4242'/><item id='missing'/></items></pubsub></iq>",
	"\x03<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='eu.siacs.conversations.axolotl.devicelist'/></pubsub></iq>",
	"\x03<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='storage:bookmarks'/></pubsub></iq>",
	"\x04<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='" + avatarSHA1 + "'/></items></pubsub></iq>",
	"\x05<iq type='get' id='i' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:devices' max_items='0'/></pubsub></iq>",
	"\x02<iq type='set' id='x' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:omemo:2:devices'><item id='current'><devices xmlns='urn:xmpp:omemo:2'/></item></publish></pubsub></iq>",
	"\x02<iq type='get' id='d' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
	// Node configuration, creation, deletion and purge (XEP-0060 §8).
	"\x00" + ownerGet + "<configure node='urn:xmpp:omemo:2:bundles'/>" + pubsubEnd,
	"\x00" + ownerSet + "<configure node='urn:xmpp:omemo:2:bundles'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormNodeConfig + "</value></field><field var='pubsub#max_items'><value>2</value></field><field var='pubsub#access_model'><value>roster</value></field><field var='pubsub#roster_groups_allowed'><value>Friends</value></field></x></configure>" + pubsubEnd,
	"\x00" + ownerSet + "<configure node='urn:xmpp:omemo:2:bundles'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormNodeConfig + "</value></field><field var='pubsub#persist_items'><value>0</value></field><field var='pubsub#notification_type'><value>normal</value></field></x></configure>" + pubsubEnd,
	"\x00" + ownerGet + "<default/>" + pubsubEnd,
	"\x00" + pubsubSet + "<create node='http://jabber.org/protocol/tune'/><configure><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormNodeConfig + "</value></field><field var='pubsub#max_items'><value>max</value></field></x></configure>" + pubsubEnd,
	"\x01" + ownerSet + "<purge node='urn:xmpp:omemo:2:bundles'/>" + pubsubEnd,
	"\x01" + ownerSet + "<delete node='urn:xmpp:avatar:metadata'/>" + pubsubEnd,
	"\x00<iq type='get' id='sub'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions/></pubsub></iq>",
	"\x00<iq type='get' id='aff'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations node='urn:xmpp:bookmarks:1'/></pubsub></iq>",
	"\x00" + ownerGet + "<subscriptions node='urn:xmpp:bookmarks:1'/>" + pubsubEnd,
	"\x02<iq type='set' id='sb' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='urn:xmpp:avatar:metadata' jid='bob@example.org'/></pubsub></iq>",
	"\x04<iq type='set' id='us' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><unsubscribe node='urn:xmpp:avatar:metadata' jid='bob@remote.example/x'/></pubsub></iq>",
	// Explicit subscriptions (XEP-0163 §5): a contact's, a stranger's
	// and remote ones, bare and full, the lists of subscriber and owner,
	// and an unsubscription.
	"\x03<iq type='set' id='sb' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='urn:xmpp:avatar:metadata' jid='carol@example.org/pc'/></pubsub></iq>",
	"\x04<iq type='set' id='sb' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='eu.siacs.conversations.axolotl.devicelist' jid='dave@remote.example'/></pubsub></iq>",
	"\x05<iq type='set' id='sb' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='urn:xmpp:omemo:2:bundles' jid='eve@remote.example/y'/></pubsub></iq>",
	"\x02<iq type='set' id='sb' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='storage:bookmarks' jid='bob@example.org/phone'/><options/></pubsub></iq>",
	"\x02<iq type='get' id='sl' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions node='urn:xmpp:avatar:metadata'/></pubsub></iq>",
	"\x00" + ownerGet + "<subscriptions node='urn:xmpp:avatar:metadata'/>" + pubsubEnd,
	"\x02<iq type='set' id='us' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><unsubscribe node='urn:xmpp:avatar:metadata' jid='bob@example.org'/></pubsub></iq>",
	"\x03<iq type='set' id='o' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='urn:xmpp:bookmarks:1'/>" + pubsubEnd,
	// A payload whose attributes' prefixes are declared further up.
	"\x00<iq type='set' id='s'><pubsub xmlns='http://jabber.org/protocol/pubsub' xmlns:g='urn:g' xmlns:h='urn:h'><publish node='http://jabber.org/protocol/geoloc'><item><geoloc xmlns='http://jabber.org/protocol/geoloc' g:a='1' h:b='2'><lat>45.44</lat></geoloc></item></publish>" + pubsubEnd,
	// Malformed requests: two items, no node, an empty one, a huge item
	// id, a foreign form, a form with a field twice.
	"\x00" + pubsubSet + "<publish node='n'><item id='1'><x xmlns='urn:x'/></item><item id='2'><x xmlns='urn:x'/></item></publish>" + pubsubEnd,
	"\x00" + pubsubSet + "<publish><item><x xmlns='urn:x'/></item></publish>" + pubsubEnd,
	"\x00" + pubsubSet + "<publish node=''><item/></publish>" + pubsubEnd,
	"\x00" + pubsubSet + "<publish node='n'><item id='" + strings.Repeat("i", 1100) + "'><x xmlns='urn:x'/></item></publish>" + pubsubEnd,
	"\x00" + pubsubSet + "<publish node='n'><item><x xmlns='urn:x'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></publish-options>" + pubsubEnd,
	"\x00" + pubsubSet + "<publish node='n'><item><x xmlns='urn:x' xmlns:a='urn:a' a:one='1' a:two='2'/></item></publish>" + publishOptions("title", "a", "title", "b") + pubsubEnd,
	"\x00<iq type='get' id='e'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>",
	// Errors and presence: neither is answered; presence changes who is
	// notified and sends the last items.
	"\x00<iq type='error' id='s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'/></pubsub><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	"\x04<iq type='error' id='q' to='alice@example.org'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	"\x02<message type='error' to='alice@example.org'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
	"\x01<presence>" + capsVer + "all'/></presence>",
	"\x02<presence>" + capsVer + "unknown'/></presence>",
	"\x02<presence type='unavailable'/>",
	"\x04<presence to='alice@example.org'>" + capsVer + "omemo'/></presence>",
	"\x05<presence to='alice@example.org'>" + capsVer + "all'/></presence>",
	"\x05<message to='alice@example.org' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'/></event></message>",
}

// fuzzEnv is a server with the IM core, service discovery, vCards,
// private storage and PEP on a real store, and the sessions that fuzzed
// stanzas come from.
type fuzzEnv struct {
	ctx      context.Context
	store    storage.Store
	r        *router.Router
	core     *im.Service
	pep      *Service
	sessions []*xmpptest.Session
	// remote are the entities of another server that stanzas come
	// from: a fixed few, so that the resources the service tracks for
	// alice stay few too.
	remote []jid.JID
	errs   *xmpptest.Logs

	mu     sync.Mutex
	routed []*xmlel.Element // stanzas routed to other servers
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	// With a working store, nothing a client sends should make the
	// services log an error.
	e := &fuzzEnv{ctx: context.Background(), errs: &xmpptest.Logs{Level: slog.LevelError}}
	log := slog.New(e.errs)
	// The store syncs every commit to disk; in memory-backed storage,
	// where there is some, the fuzzer has three times the inputs.
	dir := f.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "samtal-fuzz-"); err == nil {
		dir = d
		f.Cleanup(func() { os.RemoveAll(d) })
	}
	store, err := sqlite.Open(e.ctx, filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	e.store = store
	alice, bob, carol := "alice@"+fuzzHost, "bob@"+fuzzHost, "carol@"+fuzzHost
	xmpptest.CreateAccounts(f, store.Accounts(), alice, bob, carol)
	// bob and dave are alice's contacts, carol is a stranger to her.
	for _, it := range []struct {
		user string
		item storage.RosterItem
	}{
		{alice, storage.RosterItem{Contact: bob, Subscription: storage.SubBoth, Groups: []string{"Friends"}}},
		{alice, storage.RosterItem{Contact: "dave@remote.example", Subscription: storage.SubBoth, Groups: []string{"Friends"}}},
		{bob, storage.RosterItem{Contact: alice, Subscription: storage.SubBoth}},
	} {
		if _, err := store.Roster().Put(e.ctx, it.user, it.item, 0); err != nil {
			f.Fatal(err)
		}
	}
	e.r = router.New([]string{fuzzHost})
	mux := iq.NewMux(log)
	e.core = im.New(im.Config{RosterItems: 20, OfflineMessages: 20}, e.r, store, mux, log)
	e.r.SetLocal(e.core)
	e.r.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.routed = append(e.routed, st.El.Copy())
	}))
	disco.New(disco.Config{}, mux, store.Roster())
	vcard.New(vcard.Config{MaxBytes: 8192}, store.VCards(), mux)
	private.New(private.Config{MaxBytes: 8192, MaxNamespaces: 8}, store.Private(), mux)
	e.pep = New(fuzzConfig, e.r, store, mux, log)
	f.Cleanup(e.pep.Close)
	e.core.AddHooks(im.Hooks{PresenceSent: e.pep.PresenceSent, PresenceArrived: e.pep.PresenceArrived, PresenceDirected: e.pep.PresenceDirected})
	for ver, features := range fuzzCaps {
		e.pep.caps.Put("sha-1 "+ver, notifySetOf(features))
	}
	for _, s := range []struct{ full, ver string }{
		{alice + "/phone", "all"}, {alice + "/laptop", "none"}, {bob + "/phone", "all"}, {carol + "/pc", "omemo"},
	} {
		sess := xmpptest.Bind(f, e.r, s.full)
		xmpptest.Send(f, e.core, sess, "<presence>"+capsVer+s.ver+"'/></presence>")
		e.sessions = append(e.sessions, sess)
	}
	e.remote = []jid.JID{jid.MustParse("dave@remote.example/x"), jid.MustParse("eve@remote.example/y")}
	e.r.Route(e.ctx, xmpptest.Stanza(f, "<presence from='dave@remote.example/x' to='alice@example.org'>"+capsVer+"all'/></presence>"))
	e.take()
	e.errs.Fail(f)
	return e
}

// take returns what the sessions and other servers got since the last
// call.
func (e *fuzzEnv) take() []*xmlel.Element {
	var out []*xmlel.Element
	for _, s := range e.sessions {
		out = append(out, s.Take()...)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out = append(out, e.routed...)
	e.routed = nil
	return out
}

// FuzzService feeds arbitrary stanzas to a server with PEP, as c2s hands
// them over from one of four bound sessions or as they arrive from two
// users of another server, with a real SQLite store whose nodes and
// items grow over the run. Nothing may panic or log an error; what one
// stanza causes is bounded in count and size and well-formed; an iq
// request the server answers gets exactly one answer (RFC 6120 §8.2.3);
// a notification reaches only those the node's access model lets see it
// (XEP-0163 §4.3); and no node keeps more items than its max_items, or
// one it cannot read back.
func FuzzService(f *testing.F) {
	for _, seed := range fuzzServiceSeeds {
		f.Add([]byte(seed))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > fuzzServiceInput {
			return
		}
		st := fuzzStanza(data[1:])
		if st == nil {
			return
		}
		el := st.El
		who := int(data[0]) % (len(e.sessions) + len(e.remote))
		if who < len(e.sessions) {
			st.From = e.sessions[who].JID()
		} else if st.To.IsZero() {
			return // from another server, a stanza has both addresses
		} else {
			st.From = e.remote[who-len(e.sessions)]
		}
		el.SetAttr("from", st.From.String())
		// A request to the server or to an account is answered by the
		// server; one to a full JID goes on to that resource.
		answered := st.IsRequest() && (st.To.IsZero() || st.To.IsBare() && st.To.Domain() == fuzzHost)
		from, id, set := st.From, st.ID(), st.Type() == "set"
		// The user whose service a set may change: the addressee, or
		// the sender when there is none.
		owner := st.To
		if owner.IsZero() {
			owner = from.Bare()
		}
		if who < len(e.sessions) {
			e.core.Outbound(e.ctx, e.sessions[who], st)
		} else {
			e.r.Route(e.ctx, st)
		}
		out := e.take()
		e.errs.Fail(t)
		if len(out) > fuzzServiceOutputs {
			t.Fatalf("one stanza caused %d stanzas", len(out))
		}
		answers, results := 0, 0
		for _, o := range out {
			text := o.String()
			if len(text) > fuzzServiceBytes {
				t.Fatalf("one stanza caused a stanza of %d bytes", len(text))
			}
			if _, err := xmlstream.Parse([]byte(text), xmlstream.Limits{MaxStanzaBytes: len(text) + 1, MaxDepth: 64, MaxAttrs: 1024}); err != nil {
				t.Fatalf("sent %s, which does not parse: %v", text, err)
			}
			if o.Local == stanza.IQ && (o.Attr("type") == "result" || o.Attr("type") == "error") &&
				o.Attr("id") == id && o.Attr("to") == from.String() {
				answers++
				if o.Attr("type") == "result" {
					results++
				}
			}
			e.checkNotification(t, o)
		}
		if answered && answers != 1 {
			t.Fatalf("%d answers to the request, want 1: %v", answers, out)
		}
		// Only a set that succeeded changes what a user stores.
		if answered && set && results == 1 && owner.Local() != "" {
			e.checkNodes(t, owner.String())
		}
	})
}

// fuzzStanza reads the stanza of a fuzz input as c2s hands it on, with
// 'to' parsed and written back in its normal form; nil for what c2s
// does not pass on (it answers a malformed 'to' with jid-malformed
// itself).
func fuzzStanza(data []byte) *stanza.Stanza {
	el, err := xmlstream.Parse(data, xmlstream.Limits{MaxStanzaBytes: fuzzServiceInput, MaxDepth: 32})
	if err != nil || !stanza.IsStanza(el) {
		return nil
	}
	st := &stanza.Stanza{El: el}
	if el.Attr("to") != "" {
		if st.To, err = jid.Parse(el.Attr("to")); err != nil {
			return nil
		}
		el.SetAttr("to", st.To.String())
	}
	return st
}

// checkNotification fails unless a PEP notification goes to the owner
// or to one the node's access model lets see its items. A notification
// comes from the owner's bare JID (XEP-0163 §4.3.1); clients' stanzas
// carry full JIDs, so an event from elsewhere is one a client sent.
func (e *fuzzEnv) checkNotification(t *testing.T, o *xmlel.Element) {
	ev := o.Child(NSEvent, "event")
	if o.Local != stanza.Message || ev == nil {
		return
	}
	owner, err := jid.Parse(o.Attr("from"))
	if err != nil || !owner.IsBare() || owner.Domain() != fuzzHost {
		return
	}
	to, err := jid.Parse(o.Attr("to"))
	if err != nil {
		t.Fatalf("a notification to %q", o.Attr("to"))
	}
	if to.Bare().Equal(owner) {
		return
	}
	what := ev.FirstElement()
	if what == nil {
		t.Fatalf("an empty notification: %s", o)
	}
	if what.Local == "subscription" {
		return // the end of a subscription, told to whoever held it
	}
	cfg, err := e.pep.node(e.ctx, owner, what.Attr("node"))
	if err != nil {
		return // a node deleted: nothing left to guard
	}
	if err := e.pep.mayRetrieve(e.ctx, owner, to, cfg); err != nil {
		t.Fatalf("%s, whom the access model %s keeps out (%v), was notified: %s", to, cfg.AccessModel, err, o)
	}
}

// checkNodes fails if a node of the user keeps more items than its
// configuration allows, or an item that does not read back.
func (e *fuzzEnv) checkNodes(t *testing.T, user string) {
	nodes, err := e.store.Pubsub().Nodes(e.ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		cfg, err := decodeConfig(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		items, err := e.store.Pubsub().Items(e.ctx, user, n.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if max := cfg.Kept(fuzzConfig.MaxItems); len(items) > max {
			t.Fatalf("node %s of %s keeps %d items, max_items is %d", n.Name, user, len(items), max)
		}
		for _, it := range items {
			if _, err := itemElement(NS, it); err != nil {
				t.Fatalf("node %s of %s keeps item %q, which does not read back: %v", n.Name, user, it.ID, err)
			}
		}
	}
}
