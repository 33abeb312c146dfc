package dynamostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// tokenAttr holds the write token of the last conditional write of an item.
const tokenAttr = "wt"

// tokened makes the store's conditional writes safe to send twice.
//
// The SDK sends a write again when its answer is lost (a timeout, a reset
// connection) although DynamoDB may have made it. The second attempt then
// fails the condition that the first one met, and a write that was made is
// reported refused: an insert says its id is taken, a vend takes a second
// account, an extension answers a conflict. A write that appends (events,
// outbox entries) would even be made twice when its condition still holds.
//
// So every conditional write sets a fresh random token on its item, and its
// condition also requires that the item does not hold that token yet. The
// SDK's retries resend the same request, so the same token: a resent write
// that was made is refused by the token, never made twice, and the refusal is
// then looked at: when the item holds this write's token, the write was made
// and is reported made (with the item as it is now, for ALL_NEW). Only a
// write the SDK sent more than once is looked at again: a refusal at the
// first attempt costs nothing more. A delete
// refused whose item is gone was made, by this write or another; either way
// the item is gone as asked.
//
// Unconditional writes are left alone: writing the same attributes twice
// leaves the same item.
type tokened struct{ API }

func newWriteToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// guard returns cond extended with the token check, and names and values
// (copied) with the token's.
func guard(cond *string, names map[string]string, values map[string]types.AttributeValue, token string) (*string, map[string]string, map[string]types.AttributeValue) {
	names, values = maps.Clone(names), maps.Clone(values)
	if names == nil {
		names = map[string]string{}
	}
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	names["#ovmwt"], values[":ovmwt"] = tokenAttr, &types.AttributeValueMemberS{Value: token}
	check := "(attribute_not_exists(#ovmwt) OR #ovmwt <> :ovmwt)"
	c := aws.ToString(cond)
	if !enclosed(c) { // DynamoDB refuses redundant parentheses
		c = "(" + c + ")"
	}
	return aws.String(c + " AND " + check), names, values
}

// enclosed reports whether expression c is one parenthesized whole.
func enclosed(c string) bool {
	if !strings.HasPrefix(c, "(") {
		return false
	}
	depth := 0
	for i, r := range c {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i == len(c)-1
			}
		}
	}
	return false
}

// attempts counts the attempts the SDK makes of one call: a middleware
// after its retry loop runs once per attempt. A write refused at its first
// attempt was refused for real, and needs no second look.
type attempts struct{ n atomic.Int32 }

func (a *attempts) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("ovmAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				a.n.Add(1)
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

// errResentRefused marks a write the SDK sent more than once and that was
// refused without this write's token in the item: another write came in
// between, so whether this one was made is for the caller to tell (a vend
// looks whether the account holds its lease).
var errResentRefused = errors.New("dynamostore: a resent write was refused")

type resentRefused struct{ err error }

func (e *resentRefused) Error() string   { return e.err.Error() }
func (e *resentRefused) Unwrap() []error { return []error{e.err, errResentRefused} }

// made reports whether item key holds token after a refused write.
func (t tokened) made(ctx context.Context, table *string, key map[string]types.AttributeValue, token string) (item, bool) {
	out, err := t.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		return nil, false
	}
	return out.Item, getS(out.Item, tokenAttr) == token
}

func (t tokened) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if in.ConditionExpression == nil {
		return t.API.UpdateItem(ctx, in, opts...)
	}
	token := newWriteToken()
	c := *in
	c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues =
		guard(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, token)
	if expr := aws.ToString(in.UpdateExpression); strings.HasPrefix(expr, "SET ") {
		c.UpdateExpression = aws.String("SET #ovmwt = :ovmwt, " + strings.TrimPrefix(expr, "SET "))
	} else { // only ADD, DELETE or REMOVE clauses: a SET clause of its own
		c.UpdateExpression = aws.String("SET #ovmwt = :ovmwt " + expr)
	}
	var a attempts
	out, err := t.API.UpdateItem(ctx, &c, append(opts, a.option)...)
	if !isConditionFailed(err) || a.n.Load() <= 1 {
		return out, err
	}
	it, ok := t.made(ctx, in.TableName, in.Key, token)
	if !ok {
		return out, &resentRefused{err}
	}
	made := &dynamodb.UpdateItemOutput{}
	if in.ReturnValues == types.ReturnValueAllNew {
		made.Attributes = it
	}
	return made, nil
}

func (t tokened) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if in.ConditionExpression == nil {
		return t.API.PutItem(ctx, in, opts...)
	}
	token := newWriteToken()
	c := *in
	c.Item = maps.Clone(in.Item)
	c.Item[tokenAttr] = &types.AttributeValueMemberS{Value: token}
	c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues =
		guard(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, token)
	var a attempts
	out, err := t.API.PutItem(ctx, &c, append(opts, a.option)...)
	if !isConditionFailed(err) || a.n.Load() <= 1 {
		return out, err
	}
	if _, ok := t.made(ctx, in.TableName, key(getS(in.Item, "pk"), getS(in.Item, "sk")), token); ok {
		return &dynamodb.PutItemOutput{}, nil
	}
	return out, &resentRefused{err}
}

func (t tokened) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	var a attempts
	out, err := t.API.DeleteItem(ctx, in, append(opts, a.option)...)
	if !isConditionFailed(err) || a.n.Load() <= 1 {
		return out, err
	}
	if g, gerr := t.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key, ConsistentRead: aws.Bool(true)}); gerr == nil && g.Item == nil {
		return &dynamodb.DeleteItemOutput{}, nil
	}
	return out, err
}
