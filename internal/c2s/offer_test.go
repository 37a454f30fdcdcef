package c2s

import (
	"slices"
	"testing"
)

// TestSASLOfferShared checks that streams alike share one SASL offer and
// that streams that differ do not: PLAIN and SASL2 only where the stream
// is encrypted, -PLUS only where channel binding is possible (over TLS,
// which test/e2e's SASL2 tests cover).
func TestSASLOfferShared(t *testing.T) {
	svc, _ := testService(t, Config{})
	plain := (&Session{svc: svc, plainOK: true}).saslOffer()
	if again := (&Session{svc: svc, plainOK: true}).saslOffer(); again != plain {
		t.Error("two plaintext streams got offers of their own")
	}
	if want := []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}; !slices.Equal(plain.mechs, want) {
		t.Errorf("plaintext stream offered %q, want %q", plain.mechs, want)
	}
	if len(plain.features) != 1 {
		t.Errorf("plaintext stream got %d SASL features, want <mechanisms/> alone", len(plain.features))
	}

	secure := (&Session{svc: svc, external: true}).saslOffer()
	if secure == plain {
		t.Fatal("an encrypted stream got the plaintext stream's offer")
	}
	if want := []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}; !slices.Equal(secure.mechs, want) {
		t.Errorf("encrypted stream without channel binding offered %q, want %q", secure.mechs, want)
	}
	if len(secure.features) != 2 || !secure.features[1].Is(nsSASL2, "authentication") {
		t.Errorf("encrypted stream's SASL features %v, want <mechanisms/> and SASL2's <authentication/>", secure.features)
	}
}
