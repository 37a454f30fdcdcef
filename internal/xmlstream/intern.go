package xmlstream

// internTable holds the names, namespaces and attribute values that every
// stream repeats (message, type, chat, jabber:client ...). The reader refers
// to them by index while it reads, and the tree shares these constants
// instead of allocating copies. Index 0 is unused: intern returns it for
// "not common".
var internTable = [...]string{
	"",
	"message",
	"presence",
	"iq",
	"body",
	"subject",
	"thread",
	"error",
	"type",
	"id",
	"to",
	"from",
	"lang",
	"show",
	"status",
	"priority",
	"query",
	"item",
	"items",
	"x",
	"c",
	"delay",
	"stamp",
	"stream",
	"features",
	"auth",
	"mechanism",
	"mechanisms",
	"response",
	"challenge",
	"success",
	"failure",
	"abort",
	"starttls",
	"proceed",
	"required",
	"bind",
	"jid",
	"resource",
	"session",
	"enable",
	"enabled",
	"resume",
	"resumed",
	"r",
	"a",
	"h",
	"max",
	"location",
	"previd",
	"result",
	"verify",
	"db",
	"xmlns",
	"xml",
	"active",
	"composing",
	"paused",
	"inactive",
	"gone",
	"request",
	"received",
	"displayed",
	"acknowledged",
	"markable",
	"origin-id",
	"stanza-id",
	"by",
	"pubsub",
	"publish",
	"retract",
	"event",
	"ping",
	"ver",
	"node",
	"hash",
	"name",
	"subscription",
	"ask",
	"group",
	"forwarded",
	"sent",
	"private",
	"no-store",
	"no-permanent-store",
	"store",
	"no-copy",
	"encrypted",
	"header",
	"payload",
	"key",
	"keys",
	"reference",
	"value",
	"var",
	"field",
	"feature",
	"identity",
	"category",
	"set",
	"first",
	"last",
	"count",
	"before",
	"after",
	"index",
	"fin",
	"complete",
	"text",
	"reason",
	"invite",
	"decline",
	"password",
	"affiliation",
	"role",
	"nick",
	"actor",
	"destroy",
	"reply",
	"replace",
	"reactions",
	"reaction",
	"html",
	"p",
	"span",
	"br",
	"slot",
	"put",
	"get",
	"url",
	"size",
	"filename",
	"content-type",
	"file",
	"media-type",
	"desc",
	"expire",
	"ttl",
	"fallback",
	"for",
	"thing",
	"start",
	"end",
	"mode",
	"remove",
	"blocklist",
	"block",
	"unblock",
	"list",
	"csi",
	"mam",
	"time",
	"utc",
	"tzo",
	"version",
	"os",
	"bad-request",
	"conflict",
	"feature-not-implemented",
	"forbidden",
	"internal-server-error",
	"item-not-found",
	"jid-malformed",
	"not-acceptable",
	"not-allowed",
	"not-authorized",
	"policy-violation",
	"recipient-unavailable",
	"redirect",
	"registration-required",
	"remote-server-not-found",
	"remote-server-timeout",
	"resource-constraint",
	"service-unavailable",
	"subscription-required",
	"undefined-condition",
	"unexpected-request",
	"host-unknown",
	"invalid-namespace",
	"invalid-xml",
	"not-well-formed",
	"restricted-xml",
	"unsupported-version",
	"see-other-host",
	"system-shutdown",
	"connection-timeout",
	"bad-format",
	"bad-namespace-prefix",
	"host-gone",
	"improper-addressing",
	"invalid-from",
	"reset",
	"unsupported-encoding",
	"unsupported-feature",
	"unsupported-stanza-type",
	"remote-connection-failed",
	"chat",
	"normal",
	"groupchat",
	"headline",
	"unavailable",
	"subscribe",
	"subscribed",
	"unsubscribe",
	"unsubscribed",
	"probe",
	"away",
	"xa",
	"dnd",
	"en",
	"de",
	"fr",
	"es",
	"both",
	"none",
	"true",
	"false",
	"0",
	"1",
	"cancel",
	"modify",
	"wait",
	"continue",
	"PLAIN",
	"SCRAM-SHA-1",
	"SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256",
	"SCRAM-SHA-256-PLUS",
	"EXTERNAL",
	"ANONYMOUS",
	"1.0",
	"sha-1",
	"sha-256",
	"valid",
	"invalid",
	"form",
	"submit",
	"hidden",
	"text-single",
	"list-single",
	"boolean",
	"FORM_TYPE",
	"member",
	"moderator",
	"participant",
	"visitor",
	"owner",
	"admin",
	"outcast",
	"jabber:client",
	"jabber:server",
	"jabber:component:accept",
	"http://etherx.jabber.org/streams",
	"urn:ietf:params:xml:ns:xmpp-tls",
	"urn:ietf:params:xml:ns:xmpp-sasl",
	"urn:ietf:params:xml:ns:xmpp-bind",
	"urn:ietf:params:xml:ns:xmpp-session",
	"urn:ietf:params:xml:ns:xmpp-stanzas",
	"urn:ietf:params:xml:ns:xmpp-streams",
	"jabber:server:dialback",
	"urn:xmpp:features:dialback",
	"urn:xmpp:sm:3",
	"urn:xmpp:ping",
	"urn:xmpp:delay",
	"urn:xmpp:receipts",
	"urn:xmpp:chat-markers:0",
	"http://jabber.org/protocol/chatstates",
	"urn:xmpp:sid:0",
	"urn:xmpp:mam:2",
	"urn:xmpp:mam:2#extended",
	"urn:xmpp:carbons:2",
	"urn:xmpp:forward:0",
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"http://jabber.org/protocol/caps",
	"urn:xmpp:caps",
	"jabber:iq:roster",
	"jabber:iq:private",
	"jabber:iq:register",
	"jabber:iq:version",
	"jabber:iq:last",
	"vcard-temp",
	"vcard-temp:x:update",
	"urn:ietf:params:xml:ns:vcard-4.0",
	"http://jabber.org/protocol/pubsub",
	"http://jabber.org/protocol/pubsub#event",
	"http://jabber.org/protocol/pubsub#owner",
	"http://jabber.org/protocol/pubsub#errors",
	"http://jabber.org/protocol/muc",
	"http://jabber.org/protocol/muc#user",
	"http://jabber.org/protocol/muc#admin",
	"http://jabber.org/protocol/muc#owner",
	"jabber:x:conference",
	"urn:xmpp:csi:0",
	"urn:xmpp:hints",
	"jabber:x:data",
	"jabber:x:oob",
	"urn:xmpp:time",
	"urn:xmpp:blocking",
	"urn:xmpp:blocking:errors",
	"http://jabber.org/protocol/rsm",
	"urn:xmpp:http:upload:0",
	"eu.siacs.conversations.axolotl",
	"urn:xmpp:omemo:2",
	"urn:xmpp:message-correct:0",
	"urn:xmpp:reply:0",
	"urn:xmpp:reactions:0",
	"urn:xmpp:fallback:0",
	"urn:xmpp:styling:0",
	"urn:xmpp:bookmarks:1",
	"urn:xmpp:avatar:data",
	"urn:xmpp:avatar:metadata",
	"http://jabber.org/protocol/nick",
	"http://jabber.org/protocol/xhtml-im",
	"http://www.w3.org/1999/xhtml",
	"urn:xmpp:eme:0",
	"urn:xmpp:sasl:2",
	"urn:xmpp:bind:0",
	"urn:xmpp:fast:0",
	"urn:xmpp:idle:1",
	"urn:xmpp:mds:displayed:0",
	"urn:xmpp:message-retract:1",
	"urn:xmpp:jingle:1",
	"urn:xmpp:jingle-message:0",
	"urn:xmpp:extdisco:2",
	"urn:xmpp:push:0",
	"http://jabber.org/protocol/httpbind",
	"urn:ietf:params:xml:ns:xmpp-framing",
	"urn:xmpp:xbosh",
	"http://www.w3.org/XML/1998/namespace",
}

// intern returns the index in internTable of the string equal to b, or 0.
// The switch compiles to a search on length and bytes, and converting b for
// it does not allocate.
func intern(b []byte) int32 {
	if len(b) > maxInterned {
		return 0
	}
	switch string(b) {
	case "message":
		return 1
	case "presence":
		return 2
	case "iq":
		return 3
	case "body":
		return 4
	case "subject":
		return 5
	case "thread":
		return 6
	case "error":
		return 7
	case "type":
		return 8
	case "id":
		return 9
	case "to":
		return 10
	case "from":
		return 11
	case "lang":
		return 12
	case "show":
		return 13
	case "status":
		return 14
	case "priority":
		return 15
	case "query":
		return 16
	case "item":
		return 17
	case "items":
		return 18
	case "x":
		return 19
	case "c":
		return 20
	case "delay":
		return 21
	case "stamp":
		return 22
	case "stream":
		return 23
	case "features":
		return 24
	case "auth":
		return 25
	case "mechanism":
		return 26
	case "mechanisms":
		return 27
	case "response":
		return 28
	case "challenge":
		return 29
	case "success":
		return 30
	case "failure":
		return 31
	case "abort":
		return 32
	case "starttls":
		return 33
	case "proceed":
		return 34
	case "required":
		return 35
	case "bind":
		return 36
	case "jid":
		return 37
	case "resource":
		return 38
	case "session":
		return 39
	case "enable":
		return 40
	case "enabled":
		return 41
	case "resume":
		return 42
	case "resumed":
		return 43
	case "r":
		return 44
	case "a":
		return 45
	case "h":
		return 46
	case "max":
		return 47
	case "location":
		return 48
	case "previd":
		return 49
	case "result":
		return 50
	case "verify":
		return 51
	case "db":
		return 52
	case "xmlns":
		return 53
	case "xml":
		return 54
	case "active":
		return 55
	case "composing":
		return 56
	case "paused":
		return 57
	case "inactive":
		return 58
	case "gone":
		return 59
	case "request":
		return 60
	case "received":
		return 61
	case "displayed":
		return 62
	case "acknowledged":
		return 63
	case "markable":
		return 64
	case "origin-id":
		return 65
	case "stanza-id":
		return 66
	case "by":
		return 67
	case "pubsub":
		return 68
	case "publish":
		return 69
	case "retract":
		return 70
	case "event":
		return 71
	case "ping":
		return 72
	case "ver":
		return 73
	case "node":
		return 74
	case "hash":
		return 75
	case "name":
		return 76
	case "subscription":
		return 77
	case "ask":
		return 78
	case "group":
		return 79
	case "forwarded":
		return 80
	case "sent":
		return 81
	case "private":
		return 82
	case "no-store":
		return 83
	case "no-permanent-store":
		return 84
	case "store":
		return 85
	case "no-copy":
		return 86
	case "encrypted":
		return 87
	case "header":
		return 88
	case "payload":
		return 89
	case "key":
		return 90
	case "keys":
		return 91
	case "reference":
		return 92
	case "value":
		return 93
	case "var":
		return 94
	case "field":
		return 95
	case "feature":
		return 96
	case "identity":
		return 97
	case "category":
		return 98
	case "set":
		return 99
	case "first":
		return 100
	case "last":
		return 101
	case "count":
		return 102
	case "before":
		return 103
	case "after":
		return 104
	case "index":
		return 105
	case "fin":
		return 106
	case "complete":
		return 107
	case "text":
		return 108
	case "reason":
		return 109
	case "invite":
		return 110
	case "decline":
		return 111
	case "password":
		return 112
	case "affiliation":
		return 113
	case "role":
		return 114
	case "nick":
		return 115
	case "actor":
		return 116
	case "destroy":
		return 117
	case "reply":
		return 118
	case "replace":
		return 119
	case "reactions":
		return 120
	case "reaction":
		return 121
	case "html":
		return 122
	case "p":
		return 123
	case "span":
		return 124
	case "br":
		return 125
	case "slot":
		return 126
	case "put":
		return 127
	case "get":
		return 128
	case "url":
		return 129
	case "size":
		return 130
	case "filename":
		return 131
	case "content-type":
		return 132
	case "file":
		return 133
	case "media-type":
		return 134
	case "desc":
		return 135
	case "expire":
		return 136
	case "ttl":
		return 137
	case "fallback":
		return 138
	case "for":
		return 139
	case "thing":
		return 140
	case "start":
		return 141
	case "end":
		return 142
	case "mode":
		return 143
	case "remove":
		return 144
	case "blocklist":
		return 145
	case "block":
		return 146
	case "unblock":
		return 147
	case "list":
		return 148
	case "csi":
		return 149
	case "mam":
		return 150
	case "time":
		return 151
	case "utc":
		return 152
	case "tzo":
		return 153
	case "version":
		return 154
	case "os":
		return 155
	case "bad-request":
		return 156
	case "conflict":
		return 157
	case "feature-not-implemented":
		return 158
	case "forbidden":
		return 159
	case "internal-server-error":
		return 160
	case "item-not-found":
		return 161
	case "jid-malformed":
		return 162
	case "not-acceptable":
		return 163
	case "not-allowed":
		return 164
	case "not-authorized":
		return 165
	case "policy-violation":
		return 166
	case "recipient-unavailable":
		return 167
	case "redirect":
		return 168
	case "registration-required":
		return 169
	case "remote-server-not-found":
		return 170
	case "remote-server-timeout":
		return 171
	case "resource-constraint":
		return 172
	case "service-unavailable":
		return 173
	case "subscription-required":
		return 174
	case "undefined-condition":
		return 175
	case "unexpected-request":
		return 176
	case "host-unknown":
		return 177
	case "invalid-namespace":
		return 178
	case "invalid-xml":
		return 179
	case "not-well-formed":
		return 180
	case "restricted-xml":
		return 181
	case "unsupported-version":
		return 182
	case "see-other-host":
		return 183
	case "system-shutdown":
		return 184
	case "connection-timeout":
		return 185
	case "bad-format":
		return 186
	case "bad-namespace-prefix":
		return 187
	case "host-gone":
		return 188
	case "improper-addressing":
		return 189
	case "invalid-from":
		return 190
	case "reset":
		return 191
	case "unsupported-encoding":
		return 192
	case "unsupported-feature":
		return 193
	case "unsupported-stanza-type":
		return 194
	case "remote-connection-failed":
		return 195
	case "chat":
		return 196
	case "normal":
		return 197
	case "groupchat":
		return 198
	case "headline":
		return 199
	case "unavailable":
		return 200
	case "subscribe":
		return 201
	case "subscribed":
		return 202
	case "unsubscribe":
		return 203
	case "unsubscribed":
		return 204
	case "probe":
		return 205
	case "away":
		return 206
	case "xa":
		return 207
	case "dnd":
		return 208
	case "en":
		return 209
	case "de":
		return 210
	case "fr":
		return 211
	case "es":
		return 212
	case "both":
		return 213
	case "none":
		return 214
	case "true":
		return 215
	case "false":
		return 216
	case "0":
		return 217
	case "1":
		return 218
	case "cancel":
		return 219
	case "modify":
		return 220
	case "wait":
		return 221
	case "continue":
		return 222
	case "PLAIN":
		return 223
	case "SCRAM-SHA-1":
		return 224
	case "SCRAM-SHA-1-PLUS":
		return 225
	case "SCRAM-SHA-256":
		return 226
	case "SCRAM-SHA-256-PLUS":
		return 227
	case "EXTERNAL":
		return 228
	case "ANONYMOUS":
		return 229
	case "1.0":
		return 230
	case "sha-1":
		return 231
	case "sha-256":
		return 232
	case "valid":
		return 233
	case "invalid":
		return 234
	case "form":
		return 235
	case "submit":
		return 236
	case "hidden":
		return 237
	case "text-single":
		return 238
	case "list-single":
		return 239
	case "boolean":
		return 240
	case "FORM_TYPE":
		return 241
	case "member":
		return 242
	case "moderator":
		return 243
	case "participant":
		return 244
	case "visitor":
		return 245
	case "owner":
		return 246
	case "admin":
		return 247
	case "outcast":
		return 248
	case "jabber:client":
		return 249
	case "jabber:server":
		return 250
	case "jabber:component:accept":
		return 251
	case "http://etherx.jabber.org/streams":
		return 252
	case "urn:ietf:params:xml:ns:xmpp-tls":
		return 253
	case "urn:ietf:params:xml:ns:xmpp-sasl":
		return 254
	case "urn:ietf:params:xml:ns:xmpp-bind":
		return 255
	case "urn:ietf:params:xml:ns:xmpp-session":
		return 256
	case "urn:ietf:params:xml:ns:xmpp-stanzas":
		return 257
	case "urn:ietf:params:xml:ns:xmpp-streams":
		return 258
	case "jabber:server:dialback":
		return 259
	case "urn:xmpp:features:dialback":
		return 260
	case "urn:xmpp:sm:3":
		return 261
	case "urn:xmpp:ping":
		return 262
	case "urn:xmpp:delay":
		return 263
	case "urn:xmpp:receipts":
		return 264
	case "urn:xmpp:chat-markers:0":
		return 265
	case "http://jabber.org/protocol/chatstates":
		return 266
	case "urn:xmpp:sid:0":
		return 267
	case "urn:xmpp:mam:2":
		return 268
	case "urn:xmpp:mam:2#extended":
		return 269
	case "urn:xmpp:carbons:2":
		return 270
	case "urn:xmpp:forward:0":
		return 271
	case "http://jabber.org/protocol/disco#info":
		return 272
	case "http://jabber.org/protocol/disco#items":
		return 273
	case "http://jabber.org/protocol/caps":
		return 274
	case "urn:xmpp:caps":
		return 275
	case "jabber:iq:roster":
		return 276
	case "jabber:iq:private":
		return 277
	case "jabber:iq:register":
		return 278
	case "jabber:iq:version":
		return 279
	case "jabber:iq:last":
		return 280
	case "vcard-temp":
		return 281
	case "vcard-temp:x:update":
		return 282
	case "urn:ietf:params:xml:ns:vcard-4.0":
		return 283
	case "http://jabber.org/protocol/pubsub":
		return 284
	case "http://jabber.org/protocol/pubsub#event":
		return 285
	case "http://jabber.org/protocol/pubsub#owner":
		return 286
	case "http://jabber.org/protocol/pubsub#errors":
		return 287
	case "http://jabber.org/protocol/muc":
		return 288
	case "http://jabber.org/protocol/muc#user":
		return 289
	case "http://jabber.org/protocol/muc#admin":
		return 290
	case "http://jabber.org/protocol/muc#owner":
		return 291
	case "jabber:x:conference":
		return 292
	case "urn:xmpp:csi:0":
		return 293
	case "urn:xmpp:hints":
		return 294
	case "jabber:x:data":
		return 295
	case "jabber:x:oob":
		return 296
	case "urn:xmpp:time":
		return 297
	case "urn:xmpp:blocking":
		return 298
	case "urn:xmpp:blocking:errors":
		return 299
	case "http://jabber.org/protocol/rsm":
		return 300
	case "urn:xmpp:http:upload:0":
		return 301
	case "eu.siacs.conversations.axolotl":
		return 302
	case "urn:xmpp:omemo:2":
		return 303
	case "urn:xmpp:message-correct:0":
		return 304
	case "urn:xmpp:reply:0":
		return 305
	case "urn:xmpp:reactions:0":
		return 306
	case "urn:xmpp:fallback:0":
		return 307
	case "urn:xmpp:styling:0":
		return 308
	case "urn:xmpp:bookmarks:1":
		return 309
	case "urn:xmpp:avatar:data":
		return 310
	case "urn:xmpp:avatar:metadata":
		return 311
	case "http://jabber.org/protocol/nick":
		return 312
	case "http://jabber.org/protocol/xhtml-im":
		return 313
	case "http://www.w3.org/1999/xhtml":
		return 314
	case "urn:xmpp:eme:0":
		return 315
	case "urn:xmpp:sasl:2":
		return 316
	case "urn:xmpp:bind:0":
		return 317
	case "urn:xmpp:fast:0":
		return 318
	case "urn:xmpp:idle:1":
		return 319
	case "urn:xmpp:mds:displayed:0":
		return 320
	case "urn:xmpp:message-retract:1":
		return 321
	case "urn:xmpp:jingle:1":
		return 322
	case "urn:xmpp:jingle-message:0":
		return 323
	case "urn:xmpp:extdisco:2":
		return 324
	case "urn:xmpp:push:0":
		return 325
	case "http://jabber.org/protocol/httpbind":
		return 326
	case "urn:ietf:params:xml:ns:xmpp-framing":
		return 327
	case "urn:xmpp:xbosh":
		return 328
	case "http://www.w3.org/XML/1998/namespace":
		return 329
	}
	return 0
}

// maxInterned is the length of the longest interned string.
const maxInterned = 40
