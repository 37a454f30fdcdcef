// Package migrate copies a whole store into another through the storage
// interfaces, whatever their backends: samtal storage migrate uses it to
// move a site from SQLite to PostgreSQL without losing anything.
//
// Each area of the store is an entry in Areas: a function that reads the
// area's data of one user (or, for an area that belongs to no user, all
// of it) from a store, and one that writes that data into another. Copy
// copies account after account, every per-user area of an account right
// after the account itself, then the other areas, and reads each piece
// back from the target to check that it arrived whole. An area added to
// storage.Store needs one entry (TestAreasCoverStore fails until it has
// one); where its interface cannot list its keys, or would stamp a write
// with the current time, its backends implement one of the small export
// interfaces of package storage.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"samtal.org/samtal/internal/storage"
)

// Area copies one area of a store.
type Area interface {
	// Name is the area's name, the name of its method in storage.Store.
	Name() string
	// PerUser reports whether the area holds data of accounts, which
	// Copy copies after each account; the others are copied once, with
	// user "".
	PerUser() bool
	// copy copies the area's data of user from src to dst, checks it
	// arrived, and returns how many records it copied.
	copy(ctx context.Context, src, dst storage.Store, user string) (int, error)
	// empty reports whether s has no data in the area (of user).
	empty(ctx context.Context, s storage.Store, user string) (bool, error)
}

// area is an Area made of a read and a write function. The data T must
// compare with equal once written and read back.
type area[T any] struct {
	name    string
	perUser bool
	// read returns the area's data of user in s.
	read func(ctx context.Context, s storage.Store, user string) (T, error)
	// write stores data in s, which has none of the area for user, and
	// returns how many records it wrote.
	write func(ctx context.Context, s storage.Store, user string, data T) (int, error)
}

func (a area[T]) Name() string  { return a.name }
func (a area[T]) PerUser() bool { return a.perUser }

func (a area[T]) copy(ctx context.Context, src, dst storage.Store, user string) (int, error) {
	data, err := a.read(ctx, src, user)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	n, err := a.write(ctx, dst, user, data)
	if err != nil {
		return n, fmt.Errorf("write: %w", err)
	}
	back, err := a.read(ctx, dst, user)
	if err != nil {
		return n, fmt.Errorf("read back: %w", err)
	}
	if !equal(reflect.ValueOf(data), reflect.ValueOf(back)) {
		return n, errors.New("the copy differs from the original")
	}
	return n, nil
}

func (a area[T]) empty(ctx context.Context, s storage.Store, user string) (bool, error) {
	data, err := a.read(ctx, s, user)
	if err != nil {
		return false, err
	}
	var zero T
	return equal(reflect.ValueOf(data), reflect.ValueOf(zero)), nil
}

// equal compares data read from two stores: nil and empty slices and maps
// are equal, times are equal when they are the same instant, and the rest
// compares as reflect.DeepEqual does.
func equal(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == reflect.TypeFor[time.Time]() {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equal(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	}
	// Unexported fields cannot be read through Interface; compare kinds
	// by value.
	switch a.Kind() {
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// ErrNotEmpty is returned by Copy when the target store holds data.
var ErrNotEmpty = errors.New("migrate: the target store is not empty")

// Report says what Copy copied.
type Report struct {
	Accounts int
	// Records counts what was copied in each area, by name.
	Records map[string]int
}

// Options tune Copy.
type Options struct {
	// Progress, when set, is called after every account copied with the
	// number copied so far.
	Progress func(accounts int)
}

// usersPage is how many accounts Copy lists at once; a variable for the
// tests.
var usersPage = 500

// Copy copies everything in src into dst, which must be empty
// (ErrNotEmpty otherwise: nothing is written, so running it again on a
// target it already filled changes nothing). The source must not change
// meanwhile: stop the server first. If Copy fails half-way, dst holds
// part of the store; empty it (drop and create the database again) before
// the next attempt.
func Copy(ctx context.Context, src, dst storage.Store, opt Options) (Report, error) {
	rep := Report{Records: map[string]int{}}
	srcUsers, ok := src.Accounts().(storage.AccountLister)
	if !ok {
		return rep, errors.New("migrate: the source store cannot list its accounts")
	}
	dstUsers, ok := dst.Accounts().(storage.AccountLister)
	if !ok {
		return rep, errors.New("migrate: the target store cannot list its accounts")
	}
	if err := checkEmpty(ctx, dst, dstUsers); err != nil {
		return rep, err
	}
	after := ""
	for {
		users, err := srcUsers.Users(ctx, after, usersPage)
		if err != nil {
			return rep, fmt.Errorf("migrate: list accounts: %w", err)
		}
		for _, u := range users {
			for _, a := range Areas {
				if !a.PerUser() {
					continue
				}
				n, err := a.copy(ctx, src, dst, u)
				if err != nil {
					return rep, fmt.Errorf("migrate: %s of account %s: %w", a.Name(), u, err)
				}
				rep.Records[a.Name()] += n
			}
			rep.Accounts++
			if opt.Progress != nil {
				opt.Progress(rep.Accounts)
			}
		}
		if len(users) < usersPage {
			break
		}
		after = users[len(users)-1]
	}
	for _, a := range Areas {
		if a.PerUser() {
			continue
		}
		n, err := a.copy(ctx, src, dst, "")
		if err != nil {
			return rep, fmt.Errorf("migrate: %s: %w", a.Name(), err)
		}
		rep.Records[a.Name()] += n
	}
	return rep, nil
}

// checkEmpty returns ErrNotEmpty unless s has no account and no data in
// the areas that belong to no account.
func checkEmpty(ctx context.Context, s storage.Store, users storage.AccountLister) error {
	some, err := users.Users(ctx, "", 1)
	if err != nil {
		return fmt.Errorf("migrate: list target accounts: %w", err)
	}
	if len(some) > 0 {
		return fmt.Errorf("%w: it has accounts", ErrNotEmpty)
	}
	for _, a := range Areas {
		if a.PerUser() {
			continue
		}
		ok, err := a.empty(ctx, s, "")
		if err != nil {
			return fmt.Errorf("migrate: read target %s: %w", a.Name(), err)
		}
		if !ok {
			return fmt.Errorf("%w: it has %s", ErrNotEmpty, a.Name())
		}
	}
	return nil
}
