// chart-render renders a Helm chart the way `helm template` does, with the engine Helm uses (Go's
// text/template and the sprig functions) and the parts Helm adds implemented here: include, tpl, required,
// toYaml/fromYaml/toJson/fromJson, lookup (always empty, as in `helm template`), .Values merged from the
// chart's values.yaml, -f files and --set/--set-string, .Release, .Chart, .Capabilities and .Template.
// No helm binary can be had on the machines that test the chart; this is enough to render and check it.
//
// Build (offline, Debian's Go 1.19 and golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go build -o chart-render ./tests/ChartRender
//
// Usage:
//
//	chart-render [-f values.yaml]... [--set a.b=c]... [--set-string a=b]... [--name NAME] [--namespace NS]
//	             [--kube-version v1.31.0] [--api-versions group/version]... [--output yaml|json] CHART_DIR
//
// --output yaml prints the manifests like `helm template` (each with a "# Source:" line); --output json
// prints {"values": merged values, "notes": rendered NOTES.txt, "objects": [{"source", "object"}]}, every
// object converted from its YAML strictly (a duplicate key is an error). Errors go to stderr with exit code 1.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// APIVersions is .Capabilities.APIVersions: Has("group/version") or Has("group/version/Kind").
type APIVersions []string

// Has tells whether the cluster serves the API version (or version/kind).
func (a APIVersions) Has(version string) bool {
	for _, v := range a {
		if v == version {
			return true
		}
	}
	return false
}

// The built-in API versions `helm template` assumes without a cluster (a subset: what charts ask for).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "rbac.authorization.k8s.io/v1", "discovery.k8s.io/v1",
	"networking.k8s.io/v1", "scheduling.k8s.io/v1", "coordination.k8s.io/v1", "admissionregistration.k8s.io/v1",
	"apiextensions.k8s.io/v1", "autoscaling/v2", "storage.k8s.io/v1", "events.k8s.io/v1",
}

func main() {
	var valueFiles, sets, setStrings, apiVersions multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later ones win)")
	flag.Var(&valueFiles, "values", "values file (repeatable; later ones win)")
	flag.Var(&sets, "set", "set values on the command line (a.b=c,d={x,y}; repeatable)")
	flag.Var(&setStrings, "set-string", "set STRING values on the command line (repeatable)")
	flag.Var(&apiVersions, "api-versions", "an API version the cluster serves, e.g. monitoring.coreos.com/v1 (repeatable)")
	name := flag.String("name", "proxy-replacement", "release name")
	namespace := flag.String("namespace", "kube-system", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.31.0", "Kubernetes version for .Capabilities.KubeVersion")
	output := flag.String("output", "yaml", "yaml or json")
	flag.Parse()
	if flag.NArg() != 1 {
		fail(errors.New("usage: chart-render [flags] CHART_DIR"))
	}
	result, err := render(flag.Arg(0), options{
		valueFiles: valueFiles, sets: sets, setStrings: setStrings, apiVersions: apiVersions,
		releaseName: *name, namespace: *namespace, kubeVersion: *kubeVersion,
	})
	if err != nil {
		fail(err)
	}
	switch *output {
	case "yaml":
		for _, m := range result.manifests {
			fmt.Printf("---\n# Source: %s\n%s\n", m.source, m.text)
		}
	case "json":
		encoded, err := json.MarshalIndent(result.asJSON(), "", "  ")
		if err != nil {
			fail(err)
		}
		fmt.Println(string(encoded))
	default:
		fail(fmt.Errorf("--output %q: accepted yaml, json", *output))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	os.Exit(1)
}

type options struct {
	valueFiles, sets, setStrings, apiVersions []string
	releaseName, namespace, kubeVersion       string
}

type manifest struct {
	source string
	text   string
	object interface{}
}

type rendered struct {
	values    map[string]interface{}
	notes     string
	manifests []manifest
}

func (r rendered) asJSON() map[string]interface{} {
	objects := []interface{}{}
	for _, m := range r.manifests {
		objects = append(objects, map[string]interface{}{"source": m.source, "object": m.object})
	}
	return map[string]interface{}{"values": r.values, "notes": r.notes, "objects": objects}
}

func render(chartDir string, o options) (rendered, error) {
	chartMeta, err := readYAMLFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return rendered{}, err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return rendered{}, errors.New("Chart.yaml: name is required")
	}

	values, err := readYAMLFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return rendered{}, err
	}
	for _, file := range o.valueFiles {
		override, err := readYAMLFile(file)
		if err != nil {
			return rendered{}, err
		}
		mergeValues(values, override)
	}
	for _, s := range o.sets {
		if err := applySet(values, s, true); err != nil {
			return rendered{}, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, s := range o.setStrings {
		if err := applySet(values, s, false); err != nil {
			return rendered{}, fmt.Errorf("--set-string %s: %w", s, err)
		}
	}

	// Templates, named like Helm names them: <chart>/templates/<path>.
	files := map[string]string{}
	root := filepath.Join(chartDir, "templates")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		text, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[path.Join(chartName, "templates", filepath.ToSlash(rel))] = string(text)
		return nil
	})
	if err != nil {
		return rendered{}, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	t := template.New("gotpl")
	t.Funcs(funcMap(t))
	t.Option("missingkey=zero")
	for _, n := range names {
		if _, err := t.New(n).Parse(files[n]); err != nil {
			return rendered{}, fmt.Errorf("parse error in %s: %w", n, err)
		}
	}

	major, minor := kubeMajorMinor(o.kubeVersion)
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": o.releaseName, "Namespace": o.namespace, "IsInstall": true, "IsUpgrade": false,
			"Revision": 1, "Service": "Helm",
		},
		"Chart": chartObject(chartMeta),
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": o.kubeVersion, "GitVersion": o.kubeVersion, "Major": major, "Minor": minor,
			},
			"APIVersions": APIVersions(append(append([]string{}, defaultAPIVersions...), o.apiVersions...)),
			"HelmVersion": map[string]interface{}{"Version": "v3.16.0"},
		},
	}

	var result rendered
	result.values = values
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue // partials: only for include
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": path.Join(chartName, "templates")}
		var out bytes.Buffer
		if err := t.ExecuteTemplate(&out, n, data); err != nil {
			return rendered{}, err
		}
		text := strings.ReplaceAll(out.String(), "<no value>", "")
		if base == "NOTES.txt" {
			result.notes = text
			continue
		}
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") {
			continue
		}
		for _, doc := range splitManifests(text) {
			object, err := strictObject(doc)
			if err != nil {
				return rendered{}, fmt.Errorf("%s: %w\n%s", n, err, doc)
			}
			if object == nil {
				continue // only comments
			}
			result.manifests = append(result.manifests, manifest{source: n, text: doc, object: object})
		}
	}
	return result, nil
}

// funcMap is sprig's text functions (less env and expandenv, as in Helm) with Helm's own added.
func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	const maxDepth = 1000
	depth := 0
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth++; depth > maxDepth {
			return "", fmt.Errorf("include %q: rendering too deep (a template includes itself?)", name)
		}
		defer func() { depth-- }()
		var out bytes.Buffer
		if err := t.ExecuteTemplate(&out, name, data); err != nil {
			return "", err
		}
		return out.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		// Clone does not carry the missingkey option over: set it again, as Helm does.
		clone.Option("missingkey=zero")
		parsed, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		var out bytes.Buffer
		if err := parsed.Execute(&out, data); err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		return strings.ReplaceAll(out.String(), "<no value>", ""), nil
	}
	f["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil {
			return nil, errors.New(message)
		}
		if s, ok := value.(string); ok && s == "" {
			return nil, errors.New(message)
		}
		return value, nil
	}
	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil // `helm template` has no cluster either
	}
	return f
}

var manifestSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits a rendered file into YAML documents, dropping the empty ones (Helm's SplitManifests).
func splitManifests(text string) []string {
	var docs []string
	for _, doc := range manifestSeparator.Split(text, -1) {
		if strings.TrimSpace(doc) != "" {
			docs = append(docs, strings.TrimSpace(doc))
		}
	}
	return docs
}

// strictObject converts one YAML document to JSON and back to a generic object; duplicate keys fail.
func strictObject(doc string) (interface{}, error) {
	data, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return nil, err
	}
	var object interface{}
	if err := json.Unmarshal(data, &object); err != nil {
		return nil, err
	}
	if object == nil {
		return nil, nil
	}
	if _, ok := object.(map[string]interface{}); !ok {
		return nil, errors.New("a manifest must be a mapping")
	}
	return object, nil
}

func readYAMLFile(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// chartObject is .Chart: Chart.yaml's fields with Helm's (Go struct) names.
func chartObject(meta map[string]interface{}) map[string]interface{} {
	c := map[string]interface{}{}
	for k, v := range meta {
		if k == "apiVersion" {
			c["APIVersion"] = v
			continue
		}
		c[strings.ToUpper(k[:1])+k[1:]] = v
	}
	for _, k := range []string{"Name", "Version", "AppVersion", "Description", "Type", "KubeVersion", "Home", "Icon"} {
		if _, ok := c[k]; !ok {
			c[k] = ""
		}
	}
	return c
}

func kubeMajorMinor(version string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return "1", "31"
	}
	return parts[0], parts[1]
}

// mergeValues merges src into dst as Helm coalesces user values over defaults: maps merge key by key,
// anything else replaces, and null removes the key.
func mergeValues(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// applySet applies one --set (typed) or --set-string argument: comma-separated key=value pairs, keys dotted
// with optional [index] parts, values either scalars or {a,b} lists; '\' escapes ',', '.', '=' and '\'.
func applySet(values map[string]interface{}, arg string, typed bool) error {
	for _, pair := range splitUnescaped(arg, ',', true) {
		eq := indexUnescaped(pair, '=')
		if eq < 0 {
			return fmt.Errorf("%q: expected key=value", pair)
		}
		key, raw := pair[:eq], pair[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			inner := raw[1 : len(raw)-1]
			if inner != "" {
				for _, item := range splitUnescaped(inner, ',', false) {
					list = append(list, scalar(unescape(item), typed))
				}
			}
			value = list
		} else {
			value = scalar(unescape(raw), typed)
		}
		if err := setPath(values, splitUnescaped(key, '.', false), value); err != nil {
			return err
		}
	}
	return nil
}

var indexPart = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

func setPath(m map[string]interface{}, keys []string, value interface{}) error {
	key := unescape(keys[0])
	if match := indexPart.FindStringSubmatch(key); match != nil {
		index, _ := strconv.Atoi(match[2])
		list, _ := m[match[1]].([]interface{})
		for len(list) <= index {
			list = append(list, nil)
		}
		if len(keys) == 1 {
			list[index] = value
		} else {
			child, ok := list[index].(map[string]interface{})
			if !ok {
				child = map[string]interface{}{}
			}
			if err := setPath(child, keys[1:], value); err != nil {
				return err
			}
			list[index] = child
		}
		m[match[1]] = list
		return nil
	}
	if len(keys) == 1 {
		if value == nil {
			delete(m, key)
		} else {
			m[key] = value
		}
		return nil
	}
	child, ok := m[key].(map[string]interface{})
	if !ok {
		child = map[string]interface{}{}
		m[key] = child
	}
	return setPath(child, keys[1:], value)
}

// scalar types a --set value as Helm does: true/false, null, integers; anything else is a string.
func scalar(s string, typed bool) interface{} {
	if !typed {
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(strings.TrimPrefix(s, "-"), "0")) {
		return n
	}
	return s
}

// splitUnescaped splits on sep outside '\' escapes (and, when braces, outside {...}); escapes stay in place.
func splitUnescaped(s string, sep byte, braces bool) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case braces && s[i] == '{':
			depth++
		case braces && s[i] == '}':
			depth--
		case s[i] == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
