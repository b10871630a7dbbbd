package cache

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// privateEntry is an entry of the local tier for a value that must not be
// shared (it holds pointers, maps or slices): the bytes Redis returned and,
// from the first local hit on, the value decoded from them, which the tier
// keeps to itself. Each local hit gets a deep copy of that value, or decodes
// data anew when the value cannot be deep-copied.
type privateEntry struct {
	data    []byte
	decoded atomic.Pointer[reflect.Value]
}

// value returns the entry decoded as a value of type typ, decoding it on the
// first call, or an invalid Value if values of typ cannot be deep-copied or
// the entry was decoded for another type.
func (p *privateEntry) value(codec Codec, typ reflect.Type) reflect.Value {
	if d := p.decoded.Load(); d != nil {
		if d.Type() == typ {
			return *d
		}
		return reflect.Value{}
	}
	if !deepCopyable(typ) {
		return reflect.Value{}
	}
	nv := reflect.New(typ)
	if codec.Unmarshal(p.data, nv.Interface()) != nil {
		return reflect.Value{}
	}
	v := nv.Elem()
	if !p.decoded.CompareAndSwap(nil, &v) {
		return p.value(codec, typ)
	}
	return v
}

// copyOut fills dst, a non-nil pointer, with a private copy of the entry.
func (c *Cache) copyOut(p *privateEntry, dst any) bool {
	if rv := reflect.ValueOf(dst); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if e := rv.Elem(); e.IsZero() {
			if v := p.value(c.codec, e.Type()); v.IsValid() && fill(e, v) {
				return true
			}
		}
	}
	return c.codec.Unmarshal(p.data, dst) == nil
}

// copyValue sets *dst, when dst is a non-nil pointer to v's type and *dst is
// the zero value, to a deep copy of v that shares no memory with it, and
// reports whether it did. A zero *dst is what makes the copy equal to a
// decode of v's encoding into dst: decoding into anything else merges. On
// failure *dst is left zero.
func copyValue(dst any, v reflect.Value) bool {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !v.IsValid() {
		return false
	}
	e := rv.Elem()
	return e.Type() == v.Type() && e.IsZero() && fill(e, v)
}

// fill sets e, a settable zero value of v's type, to a deep copy of v, or
// leaves it zero and reports false.
func fill(e, v reflect.Value) bool {
	if !deepCopy(e, v, 0) {
		e.SetZero()
		return false
	}
	return true
}

// maxCopyDepth bounds deepCopy's recursion: a deeper value, or a cyclic one,
// is decoded instead.
const maxCopyDepth = 1000

var timeType = reflect.TypeFor[time.Time]()

// deepCopy sets dst, a settable value of src's type, to a copy of src that
// shares no memory with it, and reports whether it could: it cannot when the
// type is not deepCopyable (which an interface may only reveal here), or
// when the value nests deeper than maxCopyDepth. On failure dst may hold
// part of src.
func deepCopy(dst, src reflect.Value, depth int) bool {
	if depth > maxCopyDepth {
		return false
	}
	typ := src.Type()
	switch typ.Kind() {
	case reflect.Struct:
		plan := planOf(typ)
		if !plan.ok {
			return false
		}
		dst.Set(src)
		for _, i := range plan.fields {
			if !deepCopy(dst.Field(i), src.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		p := reflect.New(typ.Elem())
		if !deepCopy(p.Elem(), src.Elem(), depth+1) {
			return false
		}
		dst.Set(p)
	case reflect.Slice:
		dst.SetZero() // dst may be reused: never grow what it holds
		if src.IsNil() {
			return true
		}
		n := src.Len()
		if n == 0 {
			dst.Set(reflect.MakeSlice(typ, 0, 0)) // empty, not nil, as src
			return true
		}
		dst.Grow(n)
		dst.SetLen(n)
		if sharable(typ.Elem()) {
			reflect.Copy(dst, src)
			return true
		}
		for i := range n {
			if !deepCopy(dst.Index(i), src.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Array:
		if sharable(typ) {
			dst.Set(src)
			return true
		}
		for i := range src.Len() {
			if !deepCopy(dst.Index(i), src.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		if !sharable(typ.Key()) {
			return false
		}
		m := reflect.MakeMapWithSize(typ, src.Len())
		flat := sharable(typ.Elem())
		var elem reflect.Value
		if !flat {
			elem = reflect.New(typ.Elem()).Elem()
		}
		for it := src.MapRange(); it.Next(); {
			if flat {
				m.SetMapIndex(it.Key(), it.Value())
				continue
			}
			if !deepCopy(elem, it.Value(), depth+1) {
				return false
			}
			m.SetMapIndex(it.Key(), elem)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		e := src.Elem()
		if sharable(e.Type()) { // a boxed value cannot be changed in place
			dst.Set(src)
			return true
		}
		c := reflect.New(e.Type()).Elem()
		if !deepCopy(c, e, depth+1) {
			return false
		}
		dst.Set(c)
	default:
		if !sharable(typ) {
			return false // channels, functions, unsafe pointers
		}
		dst.Set(src)
	}
	return true
}

// copyableTypes caches deepCopyable.
var copyableTypes sync.Map // reflect.Type → bool

// deepCopyable reports whether deepCopy can copy values of type typ: made of
// numbers, strings, pointers, slices, arrays, maps with sharable keys,
// interfaces and structs whose fields are all exported (and time.Time), but
// no channels, functions or unsafe pointers.
func deepCopyable(typ reflect.Type) bool {
	if ok, known := copyableTypes.Load(typ); known {
		return ok.(bool)
	}
	ok := copyable(typ, make(map[reflect.Type]bool))
	copyableTypes.Store(typ, ok)
	return ok
}

// copyable is deepCopyable without the cache; visiting holds the struct
// types being judged, which a recursive type refers back to.
func copyable(typ reflect.Type, visiting map[reflect.Type]bool) bool {
	if sharable(typ) || typ == timeType {
		return true
	}
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return copyable(typ.Elem(), visiting)
	case reflect.Map:
		return sharable(typ.Key()) && copyable(typ.Elem(), visiting)
	case reflect.Interface:
		return true // judged by the type of the value it holds
	case reflect.Struct:
		if visiting[typ] {
			return true
		}
		visiting[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || !copyable(f.Type, visiting) {
				return false
			}
		}
		return true
	}
	return false
}

// structPlan is how deepCopy copies a struct type.
type structPlan struct {
	ok     bool  // the type is deepCopyable
	fields []int // the fields a plain assignment would share
}

// structPlans caches planOf.
var structPlans sync.Map // reflect.Type → structPlan

// planOf returns the structPlan of typ, a struct type.
func planOf(typ reflect.Type) structPlan {
	if p, ok := structPlans.Load(typ); ok {
		return p.(structPlan)
	}
	plan := structPlan{ok: deepCopyable(typ)}
	if typ != timeType { // a time's *Location is never changed: copy it whole
		for i := range typ.NumField() {
			if !sharable(typ.Field(i).Type) {
				plan.fields = append(plan.fields, i)
			}
		}
	}
	structPlans.Store(typ, plan)
	return plan
}
