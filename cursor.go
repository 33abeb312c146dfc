package ovm

import (
	"encoding/base64"
	"encoding/json"
)

// CursorKind names the list a page cursor belongs to. A cursor of one list
// is refused by every other list.
type CursorKind string

const (
	CursorAccounts CursorKind = "accounts" // AccountList
	CursorLeases   CursorKind = "leases"   // LeaseList
	CursorKeys     CursorKind = "keys"     // KeyList
	CursorSpend    CursorKind = "spend"    // SpendList
	CursorEvents   CursorKind = "events"   // EventList, oldest first
	// CursorEventsNewest is EventList newest first: a cursor of one order
	// is refused by the other.
	CursorEventsNewest CursorKind = "events-newest"
)

// EventCursorKind is the cursor kind of an event list in the order p asks.
func EventCursorKind(p *EventListParams) CursorKind {
	if p.Newest {
		return CursorEventsNewest
	}
	return CursorEvents
}

// cursorVersion is the format of the cursors EncodeCursor makes; a store
// that changes what a position means bumps it, and old cursors are refused.
const cursorVersion = 1

// cursor is what a page cursor encodes.
type cursor struct {
	V     int        `json:"v"`
	Kind  CursorKind `json:"k"`
	After string     `json:"a"`
}

// EncodeCursor returns the cursor of the page of list kind that follows
// after, the store's key of the last item returned. The cursor is opaque to
// clients (base64url of a small JSON object); stores make and read cursors
// only through EncodeCursor and DecodeCursor.
func EncodeCursor(kind CursorKind, after string) string {
	b, _ := json.Marshal(cursor{V: cursorVersion, Kind: kind, After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the key that cursor c of list kind continues after.
// A c that EncodeCursor did not make for kind (garbage, a cursor of another
// list or of an older format) is an *Error with code EInvalid: a list never
// answers a bad cursor with its first page.
func DecodeCursor(kind CursorKind, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	var cur cursor
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	switch {
	case err != nil || cur.V != cursorVersion || cur.After == "":
		return "", Errorf(EInvalid, "invalid cursor: pass the next_cursor of the previous page, or none for the first page")
	case cur.Kind != kind:
		return "", Errorf(EInvalid, "invalid cursor: it belongs to another list than %s", kind)
	}
	return cur.After, nil
}
