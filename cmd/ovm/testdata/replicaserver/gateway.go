package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// gateway is the AWS endpoint OVM talks to in the end-to-end burial test.
// It fills one gap of moto at the HTTP level: moto has no invitations or
// handshakes (InviteAccountToOrganization, AcceptHandshake), so an account
// can never join the graveyard organization there. The gateway records the
// invitation and its acceptance, and from then on answers the graveyard's
// calls about the joined account (ListParents, MoveAccount, DescribeAccount,
// CloseAccount: PENDING_CLOSURE, then SUSPENDED). Every other request goes
// to moto unchanged: the client's organization, its deletion, STS, IAM, S3.
type gateway struct {
	moto    *httputil.ReverseProxy
	connect http.Handler // Amazon Connect, when the replica stands in for it
	mu      sync.Mutex
	hs      map[string]string // handshake id -> account
	in      map[string]*member
}

type member struct {
	Parent, State string
	polls         int
}

func newGateway(moto string) *gateway {
	u, _ := url.Parse(moto)
	return &gateway{moto: httputil.NewSingleHostReverseProxy(u), hs: map[string]string{}, in: map[string]*member{}}
}

const orgsTarget = "AWSOrganizationsV20161128."

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.connect != nil && strings.Contains(r.Header.Get("Authorization"), "/connect/aws4_request") {
		g.connect.ServeHTTP(w, r)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), orgsTarget)
	if !ok {
		g.moto.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		Target              struct{ Id string }
		HandshakeId         string
		ChildId, AccountId  string
		DestinationParentId string
	}
	json.Unmarshal(body, &in)
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.in[in.ChildId+in.AccountId]
	switch {
	case op == "InviteAccountToOrganization":
		id := fmt.Sprintf("h-%010d", len(g.hs)+1)
		g.hs[id] = in.Target.Id
		reply(200, map[string]any{"Handshake": map[string]any{"Id": id, "State": "OPEN", "Action": "INVITE"}})
	case op == "AcceptHandshake":
		acct, ok := g.hs[in.HandshakeId]
		if !ok {
			reply(400, map[string]string{"__type": "HandshakeNotFoundException", "Message": "no such handshake"})
			return
		}
		if g.in[acct] == nil {
			g.in[acct] = &member{Parent: "r-graveyard-root", State: "ACTIVE"}
		}
		reply(200, map[string]any{"Handshake": map[string]any{"Id": in.HandshakeId, "State": "ACCEPTED", "Action": "INVITE"}})
	case m == nil:
		g.mu.Unlock()
		g.moto.ServeHTTP(w, r) // not about a joined account: moto's
		g.mu.Lock()
	case op == "ListParents":
		reply(200, map[string]any{"Parents": []map[string]string{{"Id": m.Parent, "Type": "ORGANIZATIONAL_UNIT"}}})
	case op == "MoveAccount":
		m.Parent = in.DestinationParentId
		reply(200, map[string]any{})
	case op == "CloseAccount":
		if m.State != "ACTIVE" {
			reply(400, map[string]string{"__type": "AccountAlreadyClosedException", "Message": "closed"})
			return
		}
		m.State, m.polls = "PENDING_CLOSURE", 1
		reply(200, map[string]any{})
	case op == "DescribeAccount":
		if m.State == "PENDING_CLOSURE" {
			if m.polls--; m.polls < 0 {
				m.State = "SUSPENDED"
			}
		}
		reply(200, map[string]any{"Account": map[string]any{"Id": in.AccountId, "State": m.State, "Status": m.State}})
	default:
		g.mu.Unlock()
		g.moto.ServeHTTP(w, r)
		g.mu.Lock()
	}
}

// burials is what the test reads back: the accounts that joined and their
// state, at GET /burials.
func (g *gateway) burials(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]member{}
	for k, v := range g.in {
		out[k] = *v
	}
	json.NewEncoder(w).Encode(out)
}
