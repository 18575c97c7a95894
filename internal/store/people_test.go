package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/store"
)

func TestInvitationsRolesAndRemoval(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		owner, acc, err := st.AddUser(ctx, "owner@example.com", "long enough password", "Shop", false)
		if err != nil {
			t.Fatal(err)
		}
		if owner.Role != access.Owner || owner.Status != store.UserActive {
			t.Fatalf("a user added from the command line: %+v, want an active owner", owner)
		}
		other, _, err := st.AddUser(ctx, "other@example.com", "long enough password", "Other", false)
		if err != nil {
			t.Fatal(err)
		}

		// An invitation makes an invited user without a password; its link is stored hashed.
		const token = "oiv_first-link-token"
		inv, err := st.Invite(ctx, acc.ID, " New@Example.com ", access.Viewer, token, owner.ID, now.Add(72*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if inv.Email != "new@example.com" || inv.Status != store.UserInvited || inv.Role != access.Viewer {
			t.Fatalf("invited %+v", inv)
		}
		if _, err := st.Authenticate(ctx, "new@example.com", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an invited user signs in without a password: %v", err)
		}
		rows, err := st.Users(ctx, acc.ID)
		if err != nil || len(rows) != 2 || rows[0].Email != "new@example.com" || rows[0].InviteExpiresAt == nil {
			t.Fatalf("users %+v, %v", rows, err)
		}
		// Inviting again renews the link with the new role; the old link stops working.
		const token2 = "oiv_second-link-token"
		if _, err := st.Invite(ctx, acc.ID, "new@example.com", access.Editor, token2, owner.ID, now.Add(72*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.InvitationByToken(ctx, token); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the replaced link: %v", err)
		}
		got, err := st.InvitationByToken(ctx, token2)
		if err != nil || got.Role != access.Editor || got.AccountName != "Shop" || got.UsedAt != nil {
			t.Fatalf("invitation %+v, %v", got, err)
		}
		// Emails of active users and of other accounts are taken.
		for _, email := range []string{"owner@example.com", "other@example.com"} {
			if _, err := st.Invite(ctx, acc.ID, email, access.Viewer, "oiv_x-"+email, owner.ID, now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
				t.Errorf("inviting %s: %v, want ErrConflict", email, err)
			}
		}
		if _, err := st.Invite(ctx, other.AccountID, "new@example.com", access.Viewer, "oiv_y", other.ID, now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("another account inviting an invited email: %v, want ErrConflict", err)
		}

		// Accepting works once, also when tried twice at the same moment.
		hash, _ := store.HashPassword("a new long password")
		var wg sync.WaitGroup
		results := make([]error, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = st.AcceptInvitation(ctx, token2, hash, time.Now())
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("accept: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("the link was used %d times, want once", ok)
		}
		joined, err := st.Authenticate(ctx, "new@example.com", "a new long password")
		if err != nil || joined.Role != access.Editor || joined.Status != store.UserActive {
			t.Fatalf("after accepting: %+v, %v", joined, err)
		}
		if got, _ := st.InvitationByToken(ctx, token2); got.UsedAt == nil {
			t.Fatal("the used link is not marked used")
		}
		// An expired link does not work.
		if _, err := st.Invite(ctx, acc.ID, "late@example.com", access.Viewer, "oiv_late", owner.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AcceptInvitation(ctx, "oiv_late", hash, now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired link: %v", err)
		}

		// The last active owner can be neither demoted nor removed; another account's user is
		// not found.
		if _, err := st.SetRole(ctx, acc.ID, owner.ID, access.Editor); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("demoting the last owner: %v", err)
		}
		if _, err := st.RemoveUser(ctx, acc.ID, owner.ID); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("removing the last owner: %v", err)
		}
		if _, err := st.SetRole(ctx, acc.ID, other.ID, access.Viewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another account's user: %v", err)
		}
		before, err := st.SetRole(ctx, acc.ID, joined.ID, access.Owner)
		if err != nil || before.Role != access.Editor {
			t.Fatalf("promote: %+v, %v", before, err)
		}
		// Two owners demoting each other at once: one of them stays owner.
		var errs [2]error
		wg.Add(2)
		go func() { defer wg.Done(); _, errs[0] = st.SetRole(ctx, acc.ID, owner.ID, access.Viewer) }()
		go func() { defer wg.Done(); _, errs[1] = st.SetRole(ctx, acc.ID, joined.ID, access.Viewer) }()
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither demotion passed: %v / %v", errs[0], errs[1])
		}
		rows, _ = st.Users(ctx, acc.ID)
		owners := 0
		for _, r := range rows {
			if r.Role == access.Owner && r.Status == store.UserActive {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("%d active owners left, want 1", owners)
		}

		// Removing a user ends their sessions and tokens at once: the one demoted above.
		target := joined
		if errs[0] == nil {
			target = owner
		}
		tokenValue, _, err := st.CreateToken(ctx, target.ID)
		if err != nil {
			t.Fatal(err)
		}
		session, _, err := st.CreateSession(ctx, target, now, time.Hour, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.RemoveUser(ctx, acc.ID, target.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UserByToken(ctx, tokenValue); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the removed user's token: %v", err)
		}
		if _, _, err := st.SessionByToken(ctx, session, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the removed user's session: %v", err)
		}
	})
}

func TestSecondFactorState(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, _, err := st.AddUser(ctx, "totp@example.com", "long enough password", "", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetPendingTOTP(ctx, u.ID, "v1.k.pending"); err != nil {
			t.Fatal(err)
		}
		// Another tab replaced the pending secret: the first one cannot be confirmed.
		if err := st.SetPendingTOTP(ctx, u.ID, "v1.k.other"); err != nil {
			t.Fatal(err)
		}
		if err := st.EnableTOTP(ctx, u.ID, "v1.k.pending", 100, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("confirming a replaced secret: %v", err)
		}
		codes := []string{"aaaa-bbbb", "cccc-dddd"}
		if err := st.EnableTOTP(ctx, u.ID, "v1.k.other", 100, codes); err != nil {
			t.Fatal(err)
		}
		if err := st.SetPendingTOTP(ctx, u.ID, "v1.k.third"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a new enrolment over an enabled factor: %v", err)
		}
		got, _ := st.UserByID(ctx, u.ID)
		if !got.TOTPEnabled {
			t.Fatal("not enabled")
		}
		// Each step is good once, and never an earlier one.
		for step, want := range map[int64]bool{100: false, 101: true} {
			if ok, err := st.UseTOTPStep(ctx, u.ID, step); err != nil || ok != want {
				t.Errorf("step %d: %v %v, want %v", step, ok, err, want)
			}
		}
		if ok, _ := st.UseTOTPStep(ctx, u.ID, 101); ok {
			t.Error("step 101 accepted twice")
		}
		if ok, _ := st.UseRecoveryCode(ctx, u.ID, "aaaa-bbbb"); !ok {
			t.Error("a recovery code did not work")
		}
		if ok, _ := st.UseRecoveryCode(ctx, u.ID, "aaaa-bbbb"); ok {
			t.Error("a recovery code worked twice")
		}
		if n, _ := st.RecoveryCodesLeft(ctx, u.ID); n != 1 {
			t.Errorf("%d codes left, want 1", n)
		}
		secrets, err := st.SealedTOTPSecrets(ctx)
		if err != nil || len(secrets) != 1 || secrets[0].Sealed != "v1.k.other" {
			t.Fatalf("secrets %+v, %v", secrets, err)
		}
		if ok, _ := st.ReplaceTOTPSecret(ctx, u.ID, "v1.k.stale", "v2.k.x"); ok {
			t.Error("replaced a secret that changed meanwhile")
		}
		if err := st.DisableTOTP(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		state, _ := st.TOTP(ctx, u.ID)
		if state.Enabled || state.Sealed != "" {
			t.Fatalf("after disabling: %+v", state)
		}
		if n, _ := st.RecoveryCodesLeft(ctx, u.ID); n != 0 {
			t.Errorf("%d recovery codes left after disabling", n)
		}
	})
}

func TestSignInState(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		for i := 0; i < 3; i++ {
			if err := st.AddLoginFailure(ctx, "k1", now.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.LoginFailures(ctx, "k1", now, 2)
		if err != nil || len(got) != 2 || !got[0].Equal(now.Add(2*time.Minute)) {
			t.Fatalf("failures %v, %v: want the newest two after the first", got, err)
		}
		if err := st.ClearLoginFailures(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.LoginFailures(ctx, "k1", now.Add(-time.Hour), 10); len(got) != 0 {
			t.Fatalf("after clearing: %v", got)
		}

		u, _, _ := st.AddUser(ctx, "c@example.com", "long enough password", "", false)
		if err := st.CreateChallenge(ctx, "oic_tok", store.Challenge{UserID: u.ID, Method: "password", Next: "/x", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		c, cu, err := st.ChallengeByToken(ctx, "oic_tok", now.Add(time.Minute))
		if err != nil || cu.ID != u.ID || c.Next != "/x" {
			t.Fatalf("challenge %+v %+v %v", c, cu, err)
		}
		if _, _, err := st.ChallengeByToken(ctx, "oic_tok", now.Add(6*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an ended challenge: %v", err)
		}
		if ok, _ := st.DeleteChallenge(ctx, "oic_tok"); !ok {
			t.Fatal("delete")
		}
		if ok, _ := st.DeleteChallenge(ctx, "oic_tok"); ok {
			t.Fatal("deleted twice")
		}

		l := store.OIDCLogin{Nonce: "n", Verifier: "v", Next: "/", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := st.CreateOIDCLogin(ctx, "state-1", l); err != nil {
			t.Fatal(err)
		}
		got1, err := st.TakeOIDCLogin(ctx, "state-1", now)
		if err != nil || got1.Nonce != "n" || got1.Verifier != "v" {
			t.Fatalf("take %+v %v", got1, err)
		}
		if _, err := st.TakeOIDCLogin(ctx, "state-1", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a state taken twice: %v", err)
		}
		_ = st.CreateOIDCLogin(ctx, "state-2", l)
		if _, err := st.TakeOIDCLogin(ctx, "state-2", now.Add(11*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an ended state: %v", err)
		}
		if err := st.PruneSignIns(ctx, now.Add(time.Hour), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TakeOIDCLogin(ctx, "state-2", now); !errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), "state-2") {
			t.Fatalf("a pruned state: %v", err)
		}
	})
}
