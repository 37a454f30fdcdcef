package muc

import (
	"testing"

	"samtal.org/samtal/internal/stanza"
)

func TestDefaultRole(t *testing.T) {
	// XEP-0045 §5.1.2, "Initial Role Based on Affiliation".
	tests := []struct {
		aff       affiliation
		moderated bool
		want      role
	}{
		{affNone, true, roleVisitor},
		{affMember, true, roleParticipant},
		{affAdmin, true, roleModerator},
		{affOwner, true, roleModerator},
		{affNone, false, roleParticipant},
		{affMember, false, roleParticipant},
		{affAdmin, false, roleModerator},
		{affOwner, false, roleModerator},
		{affOutcast, false, roleNone},
	}
	for _, tc := range tests {
		if got := defaultRole(tc.aff, tc.moderated); got != tc.want {
			t.Errorf("defaultRole(%v, moderated %v) = %v, want %v", tc.aff, tc.moderated, got, tc.want)
		}
	}
}

func TestCheckRoleChange(t *testing.T) {
	const ok = stanza.Condition("")
	tests := []struct {
		name                string
		actorAff            affiliation
		actorRole           role
		targetAff           affiliation
		targetRole, newRole role
		want                stanza.Condition
	}{
		// §8: only moderators change roles.
		{"participant kicks", affMember, roleParticipant, affNone, roleParticipant, roleNone, stanza.Forbidden},
		{"visitor grants voice", affNone, roleVisitor, affNone, roleVisitor, roleParticipant, stanza.Forbidden},
		{"admin not in the room kicks", affAdmin, roleNone, affNone, roleParticipant, roleNone, stanza.Forbidden},

		// §8.2 kick: not by a lower affiliation.
		{"moderator kicks participant", affNone, roleModerator, affNone, roleParticipant, roleNone, ok},
		{"moderator kicks visitor", affMember, roleModerator, affNone, roleVisitor, roleNone, ok},
		{"member moderator kicks member", affMember, roleModerator, affMember, roleParticipant, roleNone, ok},
		{"unaffiliated moderator kicks member", affNone, roleModerator, affMember, roleParticipant, roleNone, stanza.NotAllowed},
		{"member moderator kicks admin", affMember, roleModerator, affAdmin, roleModerator, roleNone, stanza.NotAllowed},
		{"admin kicks owner", affAdmin, roleModerator, affOwner, roleModerator, roleNone, stanza.NotAllowed},
		{"owner kicks admin", affOwner, roleModerator, affAdmin, roleModerator, roleNone, ok},
		{"owner kicks owner", affOwner, roleModerator, affOwner, roleModerator, roleNone, ok},
		{"admin kicks participant", affAdmin, roleModerator, affMember, roleParticipant, roleNone, ok},
		// §5.1.3: a moderator is kicked by an admin or owner only.
		{"moderator kicks moderator", affNone, roleModerator, affNone, roleModerator, roleNone, stanza.NotAllowed},
		{"admin kicks moderator", affAdmin, roleModerator, affNone, roleModerator, roleNone, ok},

		// §8.3 grant voice: any moderator.
		{"moderator grants voice", affNone, roleModerator, affNone, roleVisitor, roleParticipant, ok},
		{"moderator grants voice to member", affNone, roleModerator, affMember, roleVisitor, roleParticipant, ok},

		// §8.4 revoke voice: never from admins and owners, nor from an
		// affiliation at or above the moderator's.
		{"member moderator revokes voice", affMember, roleModerator, affNone, roleParticipant, roleVisitor, ok},
		{"admin revokes member's voice", affAdmin, roleModerator, affMember, roleParticipant, roleVisitor, ok},
		{"unaffiliated moderator revokes voice", affNone, roleModerator, affNone, roleParticipant, roleVisitor, stanza.NotAllowed},
		{"member moderator revokes member's voice", affMember, roleModerator, affMember, roleParticipant, roleVisitor, stanza.NotAllowed},
		{"owner revokes admin's voice", affOwner, roleModerator, affAdmin, roleModerator, roleVisitor, stanza.NotAllowed},
		{"owner revokes owner's voice", affOwner, roleModerator, affOwner, roleModerator, roleVisitor, stanza.NotAllowed},
		{"member moderator makes a moderator a visitor", affMember, roleModerator, affNone, roleModerator, roleVisitor, stanza.NotAllowed},
		{"admin makes a moderator a visitor", affAdmin, roleModerator, affNone, roleModerator, roleVisitor, ok},

		// §9.7 grant moderator: admins and owners.
		{"admin grants moderator", affAdmin, roleModerator, affNone, roleParticipant, roleModerator, ok},
		{"owner grants moderator", affOwner, roleModerator, affMember, roleVisitor, roleModerator, ok},
		{"moderator grants moderator", affMember, roleModerator, affNone, roleParticipant, roleModerator, stanza.Forbidden},

		// §9.8 revoke moderator: admins and owners, never from admins and
		// owners.
		{"admin revokes moderator", affAdmin, roleModerator, affMember, roleModerator, roleParticipant, ok},
		{"admin revokes admin's moderator", affAdmin, roleModerator, affAdmin, roleModerator, roleParticipant, stanza.NotAllowed},
		{"owner revokes admin's moderator", affOwner, roleModerator, affAdmin, roleModerator, roleParticipant, stanza.NotAllowed},
		{"moderator revokes moderator", affNone, roleModerator, affNone, roleModerator, roleParticipant, stanza.Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkRoleChange(tc.actorAff, tc.actorRole, tc.targetAff, tc.targetRole, tc.newRole)
			if got != tc.want {
				t.Errorf("checkRoleChange(%v %v -> %v %v to %v) = %q, want %q",
					tc.actorAff, tc.actorRole, tc.targetAff, tc.targetRole, tc.newRole, got, tc.want)
			}
		})
	}
}

func TestCheckAffChange(t *testing.T) {
	const ok = stanza.Condition("")
	tests := []struct {
		name               string
		actor, target, new affiliation
		self               bool
		owners             int
		want               stanza.Condition
	}{
		// §9: admin use cases are forbidden below admin.
		{"member bans", affMember, affNone, affOutcast, false, 1, stanza.Forbidden},
		{"none grants membership", affNone, affNone, affMember, false, 1, stanza.Forbidden},

		// §9.1 ban, §9.3 grant membership, §9.4 revoke it: admins.
		{"admin bans user", affAdmin, affNone, affOutcast, false, 1, ok},
		{"admin bans member", affAdmin, affMember, affOutcast, false, 1, ok},
		{"admin lifts ban", affAdmin, affOutcast, affNone, false, 1, ok},
		{"admin grants membership", affAdmin, affNone, affMember, false, 1, ok},
		{"admin revokes membership", affAdmin, affMember, affNone, false, 1, ok},
		{"admin bans owner", affAdmin, affOwner, affOutcast, false, 2, stanza.NotAllowed},
		{"admin bans admin", affAdmin, affAdmin, affOutcast, false, 1, stanza.NotAllowed},
		{"admin demotes admin", affAdmin, affAdmin, affMember, false, 1, stanza.NotAllowed},
		{"admin bans self", affAdmin, affAdmin, affOutcast, true, 1, stanza.Conflict},
		{"owner bans self", affOwner, affOwner, affOutcast, true, 2, stanza.Conflict},

		// §10.3, §10.6: only owners edit the owner and admin lists.
		{"admin grants admin", affAdmin, affMember, affAdmin, false, 1, stanza.Forbidden},
		{"admin grants owner", affAdmin, affNone, affOwner, false, 1, stanza.Forbidden},
		{"owner grants admin", affOwner, affMember, affAdmin, false, 1, ok},
		{"owner grants owner", affOwner, affNone, affOwner, false, 1, ok},
		{"owner revokes admin", affOwner, affAdmin, affNone, false, 1, ok},
		{"owner bans admin", affOwner, affAdmin, affOutcast, false, 1, ok},
		{"owner revokes owner", affOwner, affOwner, affAdmin, false, 2, ok},
		{"owner bans owner", affOwner, affOwner, affOutcast, false, 2, ok},

		// §10.5: the last owner cannot step down.
		{"last owner steps down", affOwner, affOwner, affAdmin, true, 1, stanza.Conflict},
		{"one of two owners steps down", affOwner, affOwner, affMember, true, 2, ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkAffChange(tc.actor, tc.target, tc.new, tc.self, tc.owners); got != tc.want {
				t.Errorf("checkAffChange(%v, %v -> %v, self %v, %d owners) = %q, want %q",
					tc.actor, tc.target, tc.new, tc.self, tc.owners, got, tc.want)
			}
		})
	}
}

func TestCheckEnter(t *testing.T) {
	open := roomConfig{}
	members := roomConfig{MembersOnly: true}
	secret := roomConfig{PasswordProtected: true, Password: "cauldronburn"}
	tests := []struct {
		name     string
		cfg      roomConfig
		aff      affiliation
		password string
		want     stanza.Condition
	}{
		{"open", open, affNone, "", ""},
		{"banned", open, affOutcast, "", stanza.Forbidden},                                // §7.2.8
		{"members-only, not a member", members, affNone, "", stanza.RegistrationRequired}, // §7.2.7
		{"members-only, member", members, affMember, "", ""},
		{"members-only, owner", members, affOwner, "", ""},
		{"members-only, banned", members, affOutcast, "", stanza.Forbidden},
		{"password missing", secret, affNone, "", stanza.NotAuthorized}, // §7.2.6
		{"password wrong", secret, affMember, "nope", stanza.NotAuthorized},
		{"password right", secret, affNone, "cauldronburn", ""},
	}
	for _, tc := range tests {
		if got := checkEnter(&tc.cfg, tc.aff, tc.password); got != tc.want {
			t.Errorf("%s: checkEnter = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOccupantPrivileges(t *testing.T) {
	// §5.1.1, "Privileges Associated With Roles", with the defaults.
	c := roomConfig{AllowPM: pmAnyone, WhoIs: whoisModerators}
	for _, tc := range []struct {
		r                  role
		speak, subject, pm bool
		invite, seeJIDs    bool
	}{
		{roleVisitor, false, false, true, true, false},
		{roleParticipant, true, false, true, true, false},
		{roleModerator, true, true, true, true, true},
	} {
		got := [5]bool{canSpeak(tc.r), canChangeSubject(&c, tc.r), canSendPM(&c, tc.r), canInvite(&c, affNone, tc.r), seesJIDs(&c, tc.r)}
		want := [5]bool{tc.speak, tc.subject, tc.pm, tc.invite, tc.seeJIDs}
		if got != want {
			t.Errorf("%v: speak, subject, pm, invite, see JIDs = %v, want %v", tc.r, got, want)
		}
	}
	// muc#roomconfig_changesubject lets participants change the subject.
	c.ChangeSubject = true
	if !canChangeSubject(&c, roleParticipant) || canChangeSubject(&c, roleVisitor) {
		t.Error("changesubject: want participants and not visitors to change the subject")
	}
	// muc#roomconfig_allowpm.
	for _, tc := range []struct {
		allow string
		r     role
		want  bool
	}{
		{pmParticipants, roleVisitor, false}, {pmParticipants, roleParticipant, true},
		{pmModerators, roleParticipant, false}, {pmModerators, roleModerator, true},
		{pmNone, roleModerator, false},
	} {
		c.AllowPM = tc.allow
		if got := canSendPM(&c, tc.r); got != tc.want {
			t.Errorf("allowpm %s, %v: canSendPM = %v, want %v", tc.allow, tc.r, got, tc.want)
		}
	}
	// Non-anonymous rooms show everyone the real JIDs.
	c.WhoIs = whoisAnyone
	if !seesJIDs(&c, roleVisitor) {
		t.Error("whois anyone: a visitor should see real JIDs")
	}
	// §7.8.2, §9.5: invitations in members-only rooms.
	m := roomConfig{MembersOnly: true}
	for _, tc := range []struct {
		allowInvites bool
		aff          affiliation
		want         bool
	}{
		{false, affMember, false}, {true, affMember, true}, {false, affAdmin, true}, {false, affOwner, true},
	} {
		m.AllowInvites = tc.allowInvites
		if got := canInvite(&m, tc.aff, roleParticipant); got != tc.want {
			t.Errorf("members-only, allowinvites %v, %v: canInvite = %v, want %v", tc.allowInvites, tc.aff, got, tc.want)
		}
	}
}

func TestCheckListAccess(t *testing.T) {
	semi := roomConfig{WhoIs: whoisModerators, GetMemberList: map[string]bool{"participant": true}}
	non := roomConfig{WhoIs: whoisAnyone, GetMemberList: map[string]bool{"participant": true}}
	nonMembers := roomConfig{WhoIs: whoisAnyone, MembersOnly: true}
	tests := []struct {
		name string
		cfg  roomConfig
		aff  affiliation
		r    role
		kind string
		want stanza.Condition
	}{
		{"moderator gets voice list", semi, affNone, roleModerator, "participant", ""},
		{"participant gets voice list", semi, affMember, roleParticipant, "participant", stanza.Forbidden},
		{"admin gets ban list", semi, affAdmin, roleModerator, "outcast", ""},
		{"member gets ban list", semi, affMember, roleParticipant, "outcast", stanza.Forbidden},
		{"admin gets member list", semi, affAdmin, roleNone, "member", ""},
		{"participant gets member list, semi-anonymous", semi, affNone, roleParticipant, "member", stanza.Forbidden},
		{"participant gets member list, non-anonymous", non, affNone, roleParticipant, "member", ""},
		{"visitor gets member list, not in getmemberlist", non, affNone, roleVisitor, "member", stanza.Forbidden},
		{"member gets member list of non-anonymous members-only room", nonMembers, affMember, roleNone, "member", ""},
		{"owner gets owner list", semi, affOwner, roleModerator, "owner", ""},
		{"admin gets admin list, semi-anonymous", semi, affAdmin, roleModerator, "admin", stanza.Forbidden},
		{"admin gets admin list, non-anonymous", non, affAdmin, roleModerator, "admin", ""},
		{"member gets owner list", non, affMember, roleParticipant, "owner", stanza.Forbidden},
		{"unknown list", semi, affOwner, roleModerator, "friends", stanza.BadRequest},
	}
	for _, tc := range tests {
		if got := checkListAccess(&tc.cfg, tc.aff, tc.r, tc.kind); got != tc.want {
			t.Errorf("%s: checkListAccess = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCanReadArchive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      roomConfig
		aff      affiliation
		occupant bool
		want     bool
	}{
		{"open room, anyone", roomConfig{}, affNone, false, true},
		{"open room, banned", roomConfig{}, affOutcast, false, false},
		{"members-only, member", roomConfig{MembersOnly: true}, affMember, false, true},
		{"members-only, stranger", roomConfig{MembersOnly: true}, affNone, false, false},
		{"password, occupant", roomConfig{PasswordProtected: true}, affNone, true, true},
		{"password, stranger", roomConfig{PasswordProtected: true}, affNone, false, false},
	} {
		if got := canReadArchive(&tc.cfg, tc.aff, tc.occupant); got != tc.want {
			t.Errorf("%s: canReadArchive = %v, want %v", tc.name, got, tc.want)
		}
	}
}
