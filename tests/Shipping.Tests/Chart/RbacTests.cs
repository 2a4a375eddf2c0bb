using k8s.Models;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>The ClusterRole grants exactly what the daemon does with the API, taken from its own resource list.</summary>
public sealed class RbacTests
{
    /// <summary>(group, resource) of every resource the daemon's API client reads: it only lists and watches them.</summary>
    private static IEnumerable<(string Group, string Resource)> DaemonResources(bool networkPolicy = true)
    {
        string[] core = [ApiResources.Services.Path, ApiResources.EndpointSlices.Path, ApiResources.Nodes.Path];
        string[] policy = [ApiResources.Pods.Path, ApiResources.Namespaces.Path, ApiResources.NetworkPolicies.Path];
        foreach (var path in networkPolicy ? core.Concat(policy) : core)
        {
            var parts = path.Split('/');
            yield return parts[0] == "api" ? ("", parts[2]) : (parts[1], parts[3]);
        }
    }

    [Test]
    public void The_cluster_role_grants_list_and_watch_on_what_the_daemon_reads_and_nothing_else()
    {
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}");
        var role = StrictKubernetes.Parse<V1ClusterRole>(chart.Single("ClusterRole").Object);

        var granted = role.Rules
            .SelectMany(rule => rule.ApiGroups.SelectMany(group => rule.Resources.SelectMany(resource =>
                rule.Verbs.Select(verb => $"{group}/{resource}:{verb}"))))
            .ToList();
        var needed = DaemonResources().SelectMany(r => new[] { "list", "watch" }.Select(verb => $"{r.Group}/{r.Resource}:{verb}"));

        Assert.That(granted, Is.EquivalentTo(needed));
        Assert.That(role.Rules.All(r => r.ResourceNames is null && r.NonResourceURLs is null), Is.True);
    }

    [Test]
    public void Without_network_policy_the_role_grants_no_pods_namespaces_or_policies()
    {
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}", "--set", "networkPolicy=false");
        var role = StrictKubernetes.Parse<V1ClusterRole>(chart.Single("ClusterRole").Object);

        var granted = role.Rules
            .SelectMany(rule => rule.ApiGroups.SelectMany(group => rule.Resources.SelectMany(resource =>
                rule.Verbs.Select(verb => $"{group}/{resource}:{verb}"))))
            .ToList();
        var needed = DaemonResources(networkPolicy: false).SelectMany(r => new[] { "list", "watch" }.Select(verb => $"{r.Group}/{r.Resource}:{verb}"));

        Assert.That(granted, Is.EquivalentTo(needed));
    }

    [Test]
    public void The_binding_gives_the_role_to_the_daemons_service_account()
    {
        var chart = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}", "--namespace", "proxy", "--name", "edge");
        var binding = StrictKubernetes.Parse<V1ClusterRoleBinding>(chart.Single("ClusterRoleBinding").Object);
        var account = StrictKubernetes.Parse<V1ServiceAccount>(chart.Single("ServiceAccount").Object);
        var daemonSet = StrictKubernetes.Parse<V1DaemonSet>(chart.Single("DaemonSet").Object);

        Assert.Multiple(() =>
        {
            Assert.That(binding.RoleRef.Kind, Is.EqualTo("ClusterRole"));
            Assert.That(binding.RoleRef.Name, Is.EqualTo(chart.Single("ClusterRole").Name));
            Assert.That(binding.Subjects.Single().Name, Is.EqualTo(account.Metadata.Name));
            Assert.That(binding.Subjects.Single().NamespaceProperty, Is.EqualTo("proxy"));
            Assert.That(daemonSet.Spec.Template.Spec.ServiceAccountName, Is.EqualTo(account.Metadata.Name));
            Assert.That(account.Metadata.Name, Is.EqualTo("edge-proxy-replacement"));
        });
    }
}
