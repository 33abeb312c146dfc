package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// The last active admin key cannot be revoked, also when two admins revoke
// each other at the same moment. One shared item, ADMINKEYS / S, holds two
// string sets (docs/adr/0004-last-admin-key.md):
//
//   - ids: the active admin keys. A new admin key is added once its item is
//     written; a revocation first takes its key out with one conditional
//     write, "ids contains the key AND size(ids) > 1", and only then marks
//     the key item revoked. Two revocations that would leave no admin key
//     both write this one item, so one of them fails its condition.
//   - revoked: every admin key taken out of ids (added by the same write).
//     A key in revoked is never added to ids again, so ids only ever holds
//     keys that are not revoked, and never becomes empty once it is not.
//
// An admin key whose creation stopped before it was added to ids is added
// when it is revoked (then checked like any other), and the migration of an
// older table adds every active admin key.

func adminsKey() item { return key("ADMINKEYS", "S") }

func stringSet(v string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: []string{v}}
}

// admins reads the sets (consistently).
func (s *Store) admins(ctx context.Context) (ids, revoked []string, err error) {
	it, err := s.get(ctx, "ADMINKEYS", "S")
	if err != nil {
		return nil, nil, err
	}
	for name, out := range map[string]*[]string{"ids": &ids, "revoked": &revoked} {
		if ss, ok := it[name].(*types.AttributeValueMemberSS); ok {
			*out = ss.Value
		}
	}
	return ids, revoked, nil
}

// addAdmin adds admin key id to ids unless it was revoked. It reports
// whether id is in ids now.
func (s *Store) addAdmin(ctx context.Context, id string) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: adminsKey(),
		UpdateExpression:          aws.String("ADD ids :set"),
		ConditionExpression:       aws.String("NOT contains(revoked, :id)"),
		ExpressionAttributeValues: item{":set": stringSet(id), ":id": str(id)}})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// takeOutAdmin takes active admin key id out of ids for good, unless it is
// the last one there: ErrConflict then. Once it returns nil, the key item
// may be marked revoked.
func (s *Store) takeOutAdmin(ctx context.Context, id string) error {
	for attempt := 0; attempt < 10; attempt++ {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: adminsKey(),
			UpdateExpression:          aws.String("DELETE ids :set ADD revoked :set"),
			ConditionExpression:       aws.String("contains(ids, :id) AND size(ids) > :one"),
			ExpressionAttributeValues: item{":set": stringSet(id), ":id": str(id), ":one": num(1)}})
		if !isConditionFailed(err) {
			return err
		}
		ids, revoked, err := s.admins(ctx)
		if err != nil {
			return err
		}
		switch {
		case slices.Contains(revoked, id):
			return nil // taken out already (a revocation of it that stopped before its key item, or a concurrent one)
		case slices.Contains(ids, id) && len(ids) <= 1:
			return fmt.Errorf("the last active admin key cannot be revoked; create another admin key first: %w", ovm.ErrConflict)
		case !slices.Contains(ids, id):
			// Its creation stopped before adding it, or the table predates
			// the set: count it, then decide like for any other.
			if _, err := s.addAdmin(ctx, id); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("admin key %s: the admin keys kept changing: %w", id, ovm.ErrConflict)
}

// migrateAdminSet adds every active admin key of an older table to ids.
func (s *Store) migrateAdminSet(ctx context.Context) error {
	keys, err := s.allKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Role == ovm.RoleAdmin && !k.Revoked() {
			if _, err := s.addAdmin(ctx, k.ID); err != nil && !errors.Is(err, ovm.ErrConflict) {
				return err
			}
		}
	}
	return nil
}
