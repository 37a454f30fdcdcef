package sqlutil

import (
	"math"
	"slices"
)

// The archives (a user's, a room's) are queried the same way in every
// backend: every message has a seq that orders one archive; the filters
// of a query become a Range of seq plus conditions on other columns; the
// cursor (RSM after/before, XEP-0059 §2) narrows that range again; and a
// page is the first or last rows of it in seq order.

// Range is a range of seq, Lo and Hi both excluded.
type Range struct{ Lo, Hi int64 }

// Full is the range that holds every seq.
func Full() Range { return Range{0, math.MaxInt64} }

// After and Before narrow the range to what follows or precedes seq.
func (r *Range) After(seq int64)  { r.Lo = max(r.Lo, seq) }
func (r *Range) Before(seq int64) { r.Hi = min(r.Hi, seq) }

// Empty makes the range hold nothing.
func (r *Range) Empty() { r.Lo, r.Hi = math.MaxInt64-1, 0 }

// Between returns r narrowed to what follows the message with the ID
// after and precedes the one with the ID before; an empty ID does not
// narrow. seqOf looks an ID up in the archive; its error (the backend's
// "no rows" for an unknown ID) is returned as it is.
func (r Range) Between(after, before string, seqOf func(id string) (int64, error)) (Range, error) {
	if after != "" {
		seq, err := seqOf(after)
		if err != nil {
			return r, err
		}
		r.After(seq)
	}
	if before != "" {
		seq, err := seqOf(before)
		if err != nil {
			return r, err
		}
		r.Before(seq)
	}
	return r, nil
}

// Page cuts a page out of rows read with a LIMIT of n+1 in the direction
// of paging (descending seq when backward): it keeps the first n rows,
// puts them back in archive order, and reports whether they complete the
// set in that direction, that is whether there was no row n+1.
func Page[T any](rows []T, seqs []int64, n int, backward bool) ([]T, []int64, bool) {
	complete := len(rows) <= n
	if len(rows) > n {
		rows, seqs = rows[:n], seqs[:n]
	}
	if backward {
		slices.Reverse(rows)
		slices.Reverse(seqs)
	}
	return rows, seqs, complete
}
