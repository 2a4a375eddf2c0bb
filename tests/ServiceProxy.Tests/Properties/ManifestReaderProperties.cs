using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.NUnit;
using Property = FsCheck.Property;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>
/// Random and mutated manifests through <see cref="ManifestReader.Parse"/> (and the same objects through the API
/// decoding and conversion path): the reader never throws; every Service and EndpointSlice document is either
/// accepted or reported once, with its file, document (and List item) index, kind and name; an accepted object
/// satisfies the rules (<see cref="AcceptedObjectRules"/>); a valid object becomes exactly the model the generator
/// intended; a mutation that breaks a rule is rejected with a reason that leads with the broken field's path.
/// Failures print FsCheck's replay seed: put it in <c>[Property(Replay = "...")]</c> to rerun that case.
/// </summary>
[SuppressMessage("Usage", "NUnit1027:The test method has parameters, but no arguments are supplied by attributes",
    Justification = "FsCheck properties: FsCheck supplies the arguments")]
public sealed class ManifestReaderProperties
{
    private const string FileName = "manifests/generated.yaml";

    /// <summary>A file of objects: each valid or mutated, some exact copies of an earlier one, laid out in one of three forms.</summary>
    public sealed record ManifestFile(IReadOnlyList<GeneratedObject> Objects, IReadOnlyList<int?> CopyOf, int Form)
    {
        /// <summary>0: block YAML documents; 1: JSON documents in a YAML stream; 2: one <c>kind: List</c> of JSON items.</summary>
        public string Text() => Form switch
        {
            0 => string.Join("---\n", Objects.Select(o => ManifestText.Yaml(o.Tree))),
            1 => string.Join("---\n", Objects.Select(o => ManifestText.Json(o.Tree) + "\n")),
            _ => $"{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n{string.Join(",\n", Objects.Select(o => ManifestText.Json(o.Tree)))}]}}\n",
        };

        public override string ToString()
        {
            var text = new StringBuilder($"form {Form}\n");
            for (var i = 0; i < Objects.Count; i++)
                text.Append($"#{i}{(CopyOf[i] is { } of ? $" (copy of #{of})" : "")}: {Objects[i].Mutation ?? "valid"}\n");
            return text.Append(Text()).ToString();
        }
    }

    private static Gen<ManifestFile> Files(int mutatePercent) =>
        from count in Gen.Choose(1, 6)
        from form in Gen.Choose(0, 2)
        from objects in Gen.CollectToList(Enumerable.Range(0, count), i =>
            from valid in ManifestGenerators.AnyObject(i)
            from roll in Gen.Choose(1, 100)
            from mutated in roll <= mutatePercent ? ManifestGenerators.Mutate(valid) : Gen.Constant(valid)
            from copyRoll in Gen.Choose(1, 8)
            from copyOf in Gen.Choose(0, Math.Max(0, i - 1))
            select (mutated, copy: i > 0 && copyRoll == 1 ? (int?)copyOf : null))
        select Resolve(objects, form);

    private static ManifestFile Resolve(IReadOnlyList<(GeneratedObject Object, int? Copy)> drawn, int form)
    {
        var objects = new List<GeneratedObject>();
        foreach (var (obj, copy) in drawn)
            objects.Add(copy is { } of ? objects[of] : obj);
        return new ManifestFile(objects, drawn.Select(d => d.Copy).ToList(), form);
    }

    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property Valid_objects_are_accepted_as_exactly_the_intended_model() =>
        Prop.ForAll(Arb.From(Files(mutatePercent: 0)), file =>
        {
            var set = ManifestReader.Parse(file.Text(), FileName);
            var problems = new List<string>();
            // Exact copies of an earlier object are duplicates, reported as such; nothing else is reported.
            var list = file.Form == 2;
            var copies = Enumerable.Range(0, file.Objects.Count).Where(i => file.CopyOf[i] is not null).ToList();
            var reported = set.Diagnostics.Select(d => list ? d.ItemIndex ?? -1 : d.DocumentIndex).ToList();
            if (!reported.SequenceEqual(copies) || set.Diagnostics.Any(d => !d.Reason.StartsWith("duplicate ", StringComparison.Ordinal)))
                problems.Add("diagnostics for valid objects (only copies may be reported, as duplicates):\n  " + string.Join("\n  ", set.Diagnostics));
            var unique = file.Objects.Where((_, i) => file.CopyOf[i] is null).ToList();
            var expectedServices = unique.Select(o => o.Expected).OfType<Service>().ToList();
            var expectedSlices = unique.Select(o => o.Expected).OfType<EndpointSlice>().ToList();
            Compare(expectedServices, set.Services, problems);
            Compare(expectedSlices, set.EndpointSlices, problems);
            Fail(problems, file);
        });

    [Property(MaxTest = 500, QuietOnSuccess = true)]
    public Property Every_object_of_a_mutated_file_is_accepted_by_the_rules_or_reported_with_its_file_and_path() =>
        Prop.ForAll(Arb.From(Files(mutatePercent: 60)), file =>
        {
            ManifestSet set;
            try
            {
                set = ManifestReader.Parse(file.Text(), FileName);
            }
            catch (Exception error)
            {
                throw new InvalidOperationException($"ManifestReader.Parse threw {error.GetType().Name}: {error.Message}\n{file}", error);
            }
            var problems = new List<string>();
            CheckAccepted(set, problems);
            var list = file.Form == 2;
            var acceptedKeys = set.Services.Select(s => ("Service", s.Key)).Concat(set.EndpointSlices.Select(s => ("EndpointSlice", s.Key))).ToList();
            if (acceptedKeys.Distinct().Count() != acceptedKeys.Count)
                problems.Add("an object was accepted twice");
            var unaccounted = acceptedKeys.ToList();
            var firstAccepted = new HashSet<(string, ObjectKey)>();
            for (var i = 0; i < file.Objects.Count; i++)
            {
                var obj = file.Objects[i];
                var diagnostics = set.Diagnostics.Where(d => list ? d.DocumentIndex == 0 && d.ItemIndex == i : d.DocumentIndex == i && d.ItemIndex is null).ToList();
                var (kind, key, kindReadable) = Identity(obj.Tree);
                var ours = kind is "Service" or "EndpointSlice";
                if (!kindReadable)
                {
                    if (diagnostics.Count != 1)
                        problems.Add($"#{i} ({obj.Mutation}): kind unreadable, expected one diagnostic, got {diagnostics.Count}");
                    continue;
                }
                if (!ours)
                {
                    if (diagnostics.Count != 0)
                        problems.Add($"#{i} ({obj.Mutation}): a '{kind}' is not ours and must be ignored, got: {string.Join("; ", diagnostics)}");
                    continue;
                }
                if (diagnostics.Count > 1)
                    problems.Add($"#{i}: {diagnostics.Count} diagnostics for one object: {string.Join("; ", diagnostics)}");
                var accepted = diagnostics.Count == 0;
                if (accepted)
                {
                    if (key is null || !unaccounted.Remove((kind!, key.Value)))
                        problems.Add($"#{i} ({obj.Mutation ?? "valid"}): neither reported nor accepted (key {key})");
                    else
                        firstAccepted.Add((kind!, key.Value));
                    if (obj.Outcome is { MustReject: true } must)
                        problems.Add($"#{i} ({obj.Mutation}): accepted, but must be rejected on {must.Path}");
                    if (obj.Expected is not null && file.CopyOf[i] is null)
                    {
                        var model = kind == "Service" ? (object?)set.Services.FirstOrDefault(s => s.Key == key) : set.EndpointSlices.FirstOrDefault(s => s.Key == key);
                        if (!Equals(model, obj.Expected))
                            problems.Add($"#{i}: accepted as\n  {model}\nexpected\n  {obj.Expected}");
                    }
                    continue;
                }
                var diagnostic = diagnostics[0];
                if (diagnostic.FilePath != FileName || !diagnostic.ToString().StartsWith(FileName + ": ", StringComparison.Ordinal))
                    problems.Add($"#{i}: diagnostic does not name the file: {diagnostic}");
                if (diagnostic.Kind != kind)
                    problems.Add($"#{i}: diagnostic names kind {diagnostic.Kind}, expected {kind}: {diagnostic}");
                var isDuplicate = diagnostic.Reason.StartsWith("duplicate ", StringComparison.Ordinal);
                if (isDuplicate && (key is null || !firstAccepted.Contains((kind!, key.Value))))
                    problems.Add($"#{i}: reported as a duplicate, but no earlier {kind} {key} was accepted: {diagnostic}");
                if (!isDuplicate && key is { } k && firstAccepted.Contains((kind!, k)) && obj.Outcome is null)
                    problems.Add($"#{i}: a second {kind} {k} must be reported as a duplicate: {diagnostic}");
                if (!isDuplicate && !LeadsWithAPath(diagnostic.Reason))
                    problems.Add($"#{i}: the reason does not lead with a field path: {diagnostic}");
                if (diagnostic.ObjectName is { } named && key is { } objectKey && named != objectKey.ToString())
                    problems.Add($"#{i}: diagnostic names {named}, the object is {objectKey}");
                if (obj.Outcome is { MustReject: true } expectation && !isDuplicate &&
                    !new[] { expectation.Path }.Concat(expectation.OtherPaths ?? []).Any(path => AcceptedObjectRules.LeadsWithPath(diagnostic.Reason, path)))
                    problems.Add($"#{i} ({obj.Mutation}): the reason must lead with {expectation.Path}: {diagnostic}");
                if (obj.Mutation is null && !isDuplicate)
                    problems.Add($"#{i}: a valid object was rejected: {diagnostic}");
            }
            if (unaccounted.Count > 0)
                problems.Add($"accepted objects that no document defines: {string.Join(", ", unaccounted)}");
            var stray = set.Diagnostics.Where(d => list ? d.DocumentIndex != 0 || d.ItemIndex is null || d.ItemIndex >= file.Objects.Count : d.DocumentIndex >= file.Objects.Count).ToList();
            if (stray.Count > 0)
                problems.Add($"diagnostics for documents that do not exist: {string.Join("; ", stray)}");
            Fail(problems, file);
        });

    /// <summary>A file cut short anywhere: no throw, the documents before the cut still count, the rest is reported or read as it stands.</summary>
    [Property(MaxTest = 300, QuietOnSuccess = true)]
    public Property A_truncated_file_loses_at_most_the_documents_it_cuts() =>
        Prop.ForAll(Arb.From(
            from file in Files(mutatePercent: 30).Where(f => f.Form != 2 && f.CopyOf.All(c => c is null))
            from cutPermille in Gen.Choose(0, 1000)
            select (file, cutPermille)), input =>
        {
            var (file, cutPermille) = input;
            var documents = file.Objects.Select(o => file.Form == 0 ? ManifestText.Yaml(o.Tree) : ManifestText.Json(o.Tree) + "\n").ToList();
            var text = string.Join("---\n", documents);
            var cut = (int)((long)text.Length * cutPermille / 1000);
            ManifestSet set;
            try
            {
                set = ManifestReader.Parse(text[..cut], FileName);
            }
            catch (Exception error)
            {
                throw new InvalidOperationException($"ManifestReader.Parse threw {error.GetType().Name} on a file cut at {cut}: {error.Message}\n{file}", error);
            }
            var problems = new List<string>();
            CheckAccepted(set, problems);
            problems.AddRange(set.Diagnostics.Where(d => d.FilePath != FileName).Select(d => $"diagnostic without the file: {d}"));
            var end = 0;
            for (var i = 0; i < documents.Count; i++)
            {
                end += documents[i].Length;
                if (end + (i + 1 < documents.Count ? 4 : 0) > cut)
                    break; // this one and the rest are cut (a cut right before the next "---" may or may not end the document)
                var (kind, key, _) = Identity(file.Objects[i].Tree);
                if (kind is not ("Service" or "EndpointSlice") || key is null)
                    continue;
                var reported = set.Diagnostics.Any(d => d.DocumentIndex == i);
                var accepted = kind == "Service" ? set.Services.Any(s => s.Key == key) : set.EndpointSlices.Any(s => s.Key == key);
                if (reported == accepted)
                    problems.Add($"#{i}, complete before the cut at {cut}: {(accepted ? "both accepted and reported" : "neither accepted nor reported")}");
            }
            Fail(problems, file, $"cut at {cut} of {text.Length}");
        });

    /// <summary>
    /// The same object as JSON through both sources: the manifest reader, and the API source's decoder
    /// (<see cref="ItemDecoder"/>) with <see cref="ApiObjectConversion"/>. The shared rules must give one verdict:
    /// both accept the same model, or both reject (each leading with the broken field's path where one is known).
    /// </summary>
    [Property(MaxTest = 500, QuietOnSuccess = true)]
    public Property The_api_source_and_the_manifest_reader_agree_on_every_object() =>
        Prop.ForAll(Arb.From(
            from valid in ManifestGenerators.AnyObject(0).Select(WithNamespace)
            from roll in Gen.Choose(0, 2)
            from obj in roll == 0 ? Gen.Constant(valid) : ManifestGenerators.Mutate(valid)
            // KubernetesClient's IntOrString keeps a targetPort as text whether the JSON had a number or a string, so a
            // quoted number cannot be told from a number on the API path; the API server rejects a quoted number there
            // (a port name needs a letter), so it never sends one.
            where obj.Mutation is null || !(obj.Mutation.Contains("apiVersion") || obj.Mutation.Contains(" kind") ||
                                            obj.Mutation.StartsWith("removed metadata.namespace", StringComparison.Ordinal) ||
                                            obj.Mutation.Contains("targetPort of the wrong type") ||
                                            (obj.Mutation.Contains("targetPort") && obj.Mutation.Contains('"')))
            select obj), obj =>
        {
            var json = ManifestText.Json(obj.Tree);
            var manifest = ManifestReader.Parse(json, FileName);
            using var document = JsonDocument.Parse(json);
            var filter = new ProxyLabelFilter(null);
            object? apiModel;
            string? apiRejection;
            if (obj.Kind == "Service")
            {
                var conversion = ApiObjectConversion.Service(ApiResources.Services.Decode(document.RootElement), filter);
                (apiModel, apiRejection) = (conversion.Value, conversion.Rejection);
            }
            else
            {
                var conversion = ApiObjectConversion.EndpointSlice(ApiResources.EndpointSlices.Decode(document.RootElement), filter);
                (apiModel, apiRejection) = (conversion.Value, conversion.Rejection);
            }
            var manifestModel = (object?)manifest.Services.SingleOrDefault() ?? manifest.EndpointSlices.SingleOrDefault();
            var manifestRejection = manifest.Diagnostics.SingleOrDefault()?.Reason;
            var problems = new List<string>();
            if (!Equals(manifestModel, apiModel))
                problems.Add($"models differ:\n  manifest: {manifestModel?.ToString() ?? "rejected: " + manifestRejection}\n  api:      {apiModel?.ToString() ?? "rejected: " + apiRejection}");
            if (obj.Outcome is { MustReject: true } must)
            {
                var paths = new[] { must.Path }.Concat(must.OtherPaths ?? []).ToList();
                if (apiRejection is null || !paths.Any(path => AcceptedObjectRules.LeadsWithPath(apiRejection, path)))
                    problems.Add($"the API source must reject on {must.Path}: {apiRejection ?? "accepted"}");
            }
            Fail(problems, obj, json);
        });

    private static GeneratedObject WithNamespace(GeneratedObject obj)
    {
        var metadata = (MMap)obj.Tree["metadata"]!;
        if (metadata["namespace"] is not null)
            return obj;
        var tree = (MMap)ManifestText.Replace(obj.Tree, ["metadata"],
            new MMap([.. metadata.Entries, ("namespace", MNode.Str("default", LeafKind.Name))]));
        return obj with { Tree = tree };
    }

    /// <summary>kind, namespace/name as the reader would key the document; kindReadable false when "kind" is not a string.</summary>
    private static (string? Kind, ObjectKey? Key, bool KindReadable) Identity(MMap tree)
    {
        var kindNode = tree["kind"];
        if (kindNode is not null and not MScalar)
            return (null, null, false);
        var kind = (kindNode as MScalar)?.Text;
        if (tree["metadata"] is not MMap metadata || metadata["name"] is not MScalar { Text: var name })
            return (kind, null, true);
        var ns = metadata["namespace"] switch
        {
            null => "default",
            MScalar scalar => scalar.Text,
            _ => null,
        };
        return (kind, ns is null ? null : new ObjectKey(ns, name), true);
    }

    private static void CheckAccepted(ManifestSet set, List<string> problems)
    {
        foreach (var service in set.Services)
            problems.AddRange(AcceptedObjectRules.Of(service).Select(rule => $"accepted Service {service.Key} breaks: {rule}"));
        foreach (var slice in set.EndpointSlices)
            problems.AddRange(AcceptedObjectRules.Of(slice).Select(rule => $"accepted EndpointSlice {slice.Key} breaks: {rule}"));
    }

    private static bool LeadsWithAPath(string reason) =>
        System.Text.RegularExpressions.Regex.IsMatch(reason, @"^[A-Za-z][A-Za-z0-9_./\[\]-]*: ");

    private static void Compare<T>(List<T> expected, IReadOnlyList<T> actual, List<string> problems)
    {
        if (expected.Count != actual.Count)
            problems.Add($"{typeof(T).Name}: expected {expected.Count}, accepted {actual.Count}");
        foreach (var (want, got) in expected.Zip(actual))
            if (!Equals(want, got))
                problems.Add($"{typeof(T).Name}:\n  expected {want}\n  accepted {got}");
    }

    private static void Fail(List<string> problems, object input, string? note = null)
    {
        if (problems.Count > 0)
            throw new PropertyFailure($"{string.Join("\n", problems)}\n--- input{(note is null ? "" : $" ({note})")}:\n{input}");
    }
}

/// <summary>A broken property, with everything needed to see why in its message.</summary>
public sealed class PropertyFailure(string message) : Exception(message);
