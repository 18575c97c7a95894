package mapping

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// What an order's expressions read
//
// Most of a RetailCRM order is never read by a mapping: the customer and
// contact objects, payments, item offers. Compile works out from the
// rewritten expressions which parts of the order they can read, and Map
// builds only those (decodeProjected), scanning past the rest. The analysis
// is conservative: wherever it cannot follow a value, it asks for all of it.

// segment is one step of a path: an object key, or every element of a list.
type segment struct {
	key  string
	elem bool
}

// path leads from the order's root to a part of it.
type path []segment

func (p path) with(s segment) path {
	return append(p[:len(p):len(p)], s)
}

// projection says which parts of a JSON value are read. A nil *projection
// means all of it. keys lists what is read below each key of an object;
// elemRead says elements of a list are read, elem what of each. A value
// whose shape does not fit (an object where elements were read, a list
// where keys were) is built whole.
type projection struct {
	keys     map[string]*projection
	elemRead bool
	elem     *projection
}

// need adds a path to p, the whole value at its end being read, and
// returns the result (nil, all, for the empty path).
func (p *projection) need(pt path) *projection {
	if p == nil || len(pt) == 0 {
		return nil
	}
	cur := p
	for i, s := range pt {
		last := i == len(pt)-1
		if s.elem {
			switch {
			case last:
				cur.elemRead, cur.elem = true, nil
				return p
			case cur.elemRead && cur.elem == nil:
				return p
			case !cur.elemRead:
				cur.elemRead, cur.elem = true, new(projection)
			}
			cur = cur.elem
			continue
		}
		child, ok := cur.keys[s.key]
		switch {
		case last:
			if cur.keys == nil {
				cur.keys = make(map[string]*projection)
			}
			cur.keys[s.key] = nil
			return p
		case ok && child == nil:
			return p
		case !ok:
			if cur.keys == nil {
				cur.keys = make(map[string]*projection)
			}
			child = new(projection)
			cur.keys[s.key] = child
		}
		cur = child
	}
	return p
}

// Loop builtins, and those that return elements of their list.
var (
	loopBuiltins    = append(append([]string{}, conditionBuiltins...), "map", "reduce")
	elementBuiltins = []string{"filter", "find", "findLast"}
)

// readPaths lists the parts of the order a rewritten tree reads.
func readPaths(root ast.Node) []path {
	var r reader
	r.walk(root, nil, false)
	return r.paths
}

type reader struct {
	paths []path
}

// source is the path of the order data a node evaluates to, when it is a
// chain of constant-key reads from the root (@o) or from a loop element
// (#, whose path is elem when elemOK).
func source(n ast.Node, elem path, elemOK bool) (path, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return path{}, x.Value == envOrder
	case *ast.PointerNode:
		return elem, elemOK && x.Name == ""
	case *ast.CallNode:
		name, args := callOf(x)
		if name != "@get" || len(args) != 3 {
			return nil, false
		}
		key, ok := args[2].(*ast.StringNode)
		if !ok {
			return nil, false
		}
		base, ok := source(args[1], elem, elemOK)
		if !ok {
			return nil, false
		}
		return base.with(segment{key: key.Value}), true
	}
	return nil, false
}

func callOf(c *ast.CallNode) (string, []ast.Node) {
	if id, ok := c.Callee.(*ast.IdentifierNode); ok {
		return id.Value, c.Arguments
	}
	return "", nil
}

// walk records what evaluating n reads when its whole value is used.
func (r *reader) walk(n ast.Node, elem path, elemOK bool) {
	if p, ok := source(n, elem, elemOK); ok {
		r.paths = append(r.paths, p)
		return
	}
	if b, ok := n.(*ast.BuiltinNode); ok && slices.Contains(loopBuiltins, b.Name) && len(b.Arguments) >= 2 {
		items, known := r.elements(b.Arguments[0], elem, elemOK)
		if !known {
			r.walk(b.Arguments[0], elem, elemOK)
		}
		if pred, ok := b.Arguments[1].(*ast.PredicateNode); ok {
			r.walk(pred.Node, items, known)
		}
		for _, a := range b.Arguments[2:] {
			r.walk(a, elem, elemOK)
		}
		if known && slices.Contains(elementBuiltins, b.Name) {
			r.paths = append(r.paths, items) // the elements themselves are the result
		}
		return
	}
	forEachChild(n, func(c ast.Node) { r.walk(c, elem, elemOK) })
}

// elements returns the path of the elements of a loop's list when they are
// order data: a path (items), or filter over such a list (whose predicate
// is walked here). @list, which loops wrap their list in, is transparent.
func (r *reader) elements(n ast.Node, elem path, elemOK bool) (path, bool) {
	if c, ok := n.(*ast.CallNode); ok {
		if name, args := callOf(c); name == "@list" && len(args) == 2 {
			return r.elements(args[1], elem, elemOK)
		}
	}
	if p, ok := source(n, elem, elemOK); ok {
		return p.with(segment{elem: true}), true
	}
	if b, ok := n.(*ast.BuiltinNode); ok && b.Name == "filter" && len(b.Arguments) == 2 {
		items, known := r.elements(b.Arguments[0], elem, elemOK)
		if !known {
			return nil, false
		}
		if pred, ok := b.Arguments[1].(*ast.PredicateNode); ok {
			r.walk(pred.Node, items, true)
		}
		return items, true
	}
	return nil, false
}
