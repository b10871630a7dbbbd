package cache

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"time"
)

// Codec turns values into the bytes stored in Redis and back.
// Implementations must be safe for concurrent use.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, dst any) error
}

// JSON is the default codec: encoding/json, so that services in other
// languages read and write the same entries. It reads what Python's
// json.dumps(value, default=str) writes, separators and \u escapes included;
// dates and datetimes arrive as strings (see Time). It cannot read the
// NaN and Infinity literals Python writes for those floats.
var JSON Codec = jsonCodec{}

// Binary is a codec for caches that only Go reads: []byte and string values
// are stored as they are, values implementing encoding.BinaryMarshaler (and,
// on the way back, encoding.BinaryUnmarshaler) as their own encoding, and
// anything else with encoding/gob. The destination of Unmarshal must be of
// the type stored.
var Binary Codec = binaryCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)        { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, dst any) error { return json.Unmarshal(data, dst) }

type binaryCodec struct{}

func (binaryCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	case encoding.BinaryMarshaler:
		return v.MarshalBinary()
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("gob encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

func (binaryCodec) Unmarshal(data []byte, dst any) error {
	switch d := dst.(type) {
	case *[]byte:
		*d = append((*d)[:0:0], data...)
		return nil
	case *string:
		*d = string(data)
		return nil
	case encoding.BinaryUnmarshaler:
		return d.UnmarshalBinary(data)
	}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(dst); err != nil {
		return fmt.Errorf("gob decode %T: %w", dst, err)
	}
	return nil
}

// Time is a time.Time that reads and writes JSON the way Python's
// json.dumps(value, default=str) writes a datetime: str(datetime), as in
// "2024-01-01 00:00:00", "2024-01-01 00:00:00.123456" or
// "2024-01-01 00:00:00+00:00". It also reads RFC 3339 and plain dates
// ("2024-01-01"). A time without an offset is taken as UTC.
type Time struct {
	time.Time
}

// pythonLayouts are tried in order by UnmarshalJSON.
var pythonLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// MarshalJSON writes the time as Python's str(datetime) of an aware
// datetime: microseconds only when non-zero, and the UTC offset.
func (t Time) MarshalJSON() ([]byte, error) {
	layout := "2006-01-02 15:04:05-07:00"
	if t.Nanosecond()/1000 != 0 {
		layout = "2006-01-02 15:04:05.000000-07:00"
	}
	b := make([]byte, 0, len(layout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b, layout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a string in any of the formats Time documents; null
// leaves the time unchanged.
func (t *Time) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("cache.Time: %w", err)
	}
	for _, layout := range pythonLayouts {
		if v, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("cache.Time: %q is neither RFC 3339 nor Python's str(datetime)", s)
}
