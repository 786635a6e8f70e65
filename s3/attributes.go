package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

type objectAttributesResult struct {
	XMLName      xml.Name              `xml:"GetObjectAttributesOutput"`
	Xmlns        string                `xml:"xmlns,attr"`
	ETag         string                `xml:"ETag,omitempty"`
	Checksum     *checksumAttributeXML `xml:"Checksum,omitempty"`
	ObjectParts  *objectPartsXML       `xml:"ObjectParts,omitempty"`
	StorageClass string                `xml:"StorageClass,omitempty"`
	ObjectSize   *int64                `xml:"ObjectSize,omitempty"`
}

type checksumAttributeXML struct {
	checksumsXML
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type objectPartsXML struct {
	PartsCount           int  `xml:"PartsCount"`
	PartNumberMarker     int  `xml:"PartNumberMarker"`
	NextPartNumberMarker int  `xml:"NextPartNumberMarker"`
	MaxParts             int  `xml:"MaxParts"`
	IsTruncated          bool `xml:"IsTruncated"`
}

// getObjectAttributes serves GetObjectAttributes (GET ?attributes), the
// attributes named in x-amz-object-attributes. A composite checksum is
// given without its "-N" suffix, as S3 does. ObjectParts has the part count
// but no Part entries: S3 lists parts only with their checksums, which the
// engine does not keep once an upload completes.
func (s *Server) getObjectAttributes(r *request) error {
	want := map[string]bool{}
	for _, a := range strings.Split(r.header("x-amz-object-attributes"), ",") {
		switch a = strings.TrimSpace(a); a {
		case "":
		case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
			want[a] = true
		default:
			return withMessage(errInvalidArgument, "Invalid attribute name specified: "+a+".")
		}
	}
	if len(want) == 0 {
		return withMessage(errInvalidArgument, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty.")
	}
	maxParts, marker := 1000, 0
	for _, p := range []struct {
		name string
		v    *int
	}{{"x-amz-max-parts", &maxParts}, {"x-amz-part-number-marker", &marker}} {
		if v := r.header(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return withMessage(errInvalidArgument, "Invalid "+p.name+".")
			}
			*p.v = n
		}
	}
	info, err := s.store.Head(r.bucket, r.key)
	if err != nil {
		return err
	}
	out := objectAttributesResult{Xmlns: s3NS}
	if want["ETag"] {
		out.ETag = info.ETag
	}
	if a, v := objectChecksum(info.Checksums); want["Checksum"] && a != "" {
		c := &checksumAttributeXML{ChecksumType: checksumType(v)}
		v, _, _ = strings.Cut(v, "-")
		*c.field(a) = v
		out.Checksum = c
	}
	if want["ObjectParts"] && info.Parts > 0 {
		out.ObjectParts = &objectPartsXML{PartsCount: info.Parts, PartNumberMarker: marker, MaxParts: min(maxParts, 1000)}
	}
	if want["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		out.ObjectSize = &info.Size
	}
	r.ctx.Response.Header.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	writeXML(r.ctx, fasthttp.StatusOK, out)
	return nil
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXsi    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// getACL serves GetObjectAcl and GetBucketAcl. Access is all or nothing
// (the root credentials), so every bucket and object has the private ACL:
// the owner has full control, nobody else has anything. Setting ACLs is not
// implemented.
func (s *Server) getACL(r *request) error {
	if r.key != "" {
		if _, err := s.store.Head(r.bucket, r.key); err != nil {
			return err
		}
	} else if err := s.bucketMustExist(r.bucket); err != nil {
		return err
	}
	o := s.owner()
	writeXML(r.ctx, fasthttp.StatusOK, accessControlPolicy{Xmlns: s3NS, Owner: o, Grants: []grant{{
		Grantee:    grantee{XMLNSXsi: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
		Permission: "FULL_CONTROL",
	}}})
	return nil
}
