using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace ProxyReplacement.ServiceProxy.Telemetry;

/// <summary>What the bridge needs to know of an instrument beyond the instrument itself: its label names, in order.</summary>
public interface IInstrumentLabels
{
    /// <summary>The label (tag) names of the instrument named <paramref name="instrument"/>, in exposition order; empty: none.</summary>
    IReadOnlyList<string> LabelNamesOf(string instrument);
}

/// <summary>
/// Exports the instruments of one <see cref="Meter"/> into a prometheus-net <see cref="CollectorRegistry"/> under
/// their own names and with their Prometheus types: Counter and ObservableCounter as counters, gauges and up-down
/// counters as gauges, Histogram as a histogram with the buckets of the instrument's advice
/// (<see cref="InstrumentAdvice{T}.HistogramBucketBoundaries"/>). Observable instruments are read at each scrape.
/// </summary>
/// <remarks>
/// Why not prometheus-net's own <c>MeterAdapter</c>: it prefixes every name with the meter's name and exposes every
/// counter as a gauge (the reasons are in its source), so kube-proxy's names and types (a <c>_total</c> counter, for
/// <c>rate()</c>) could not be kept. This bridge keeps the names exactly as declared; an OTLP exporter
/// (<see cref="OtlpTelemetry"/>) reads the same instruments by the meter's name.
/// </remarks>
public sealed class PrometheusMeterBridge : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly IMetricFactory _factory;
    private readonly IInstrumentLabels _labels;
    private readonly ConcurrentDictionary<Instrument, Sink> _sinks = new();
    private readonly ConcurrentBag<Gauge> _observedGauges = [];
    private volatile bool _disposed;

    public PrometheusMeterBridge(Meter meter, CollectorRegistry registry, IInstrumentLabels labels)
    {
        ArgumentNullException.ThrowIfNull(meter);
        ArgumentNullException.ThrowIfNull(registry);
        _labels = labels;
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, meter) || _disposed)
                return;
            if (CreateSink(instrument) is { } sink)
            {
                _sinks[instrument] = sink;
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.MeasurementsCompleted = (instrument, _) => _sinks.TryRemove(instrument, out Sink? _);
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
        registry.AddBeforeCollectCallback(() =>
        {
            if (_disposed)
                return;
            // An observable gauge reports what exists now: a label set it no longer reports goes away.
            foreach (var gauge in _observedGauges)
                foreach (var values in gauge.GetAllLabelValues().ToList())
                    gauge.RemoveLabelled(values);
            _listener.RecordObservableInstruments();
        });
    }

    private enum Kind { Add, IncreaseTo, Set, Observe }

    private sealed record Sink(Kind Kind, Collector Collector, string[] LabelNames);

    private Sink? CreateSink(Instrument instrument)
    {
        var labelNames = _labels.LabelNamesOf(instrument.Name).ToArray();
        var help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
        var definition = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : null;
        // An observable instrument shows what its callback reports, and nothing before it reports (a family that does
        // not apply, e.g. the Kubernetes source's on a manifest-directory daemon, stays out of the exposition).
        if (definition == typeof(Counter<>))
            return new Sink(Kind.Add, _factory.CreateCounter(instrument.Name, help, labelNames), labelNames);
        if (definition == typeof(ObservableCounter<>))
            return new Sink(Kind.IncreaseTo, _factory.CreateCounter(instrument.Name, help,
                new CounterConfiguration { LabelNames = labelNames, SuppressInitialValue = true }), labelNames);
        if (definition == typeof(UpDownCounter<>))
            return new Sink(Kind.Add, _factory.CreateGauge(instrument.Name, help, labelNames), labelNames);
        if (definition == typeof(ObservableGauge<>) || definition == typeof(ObservableUpDownCounter<>))
        {
            var gauge = _factory.CreateGauge(instrument.Name, help, new GaugeConfiguration { LabelNames = labelNames, SuppressInitialValue = true });
            if (labelNames.Length > 0)
                _observedGauges.Add(gauge);
            return new Sink(Kind.Set, gauge, labelNames);
        }
        if (definition == typeof(Histogram<>))
        {
            var buckets = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray();
            return new Sink(Kind.Observe, _factory.CreateHistogram(instrument.Name, help, new HistogramConfiguration
            {
                LabelNames = labelNames,
                Buckets = buckets ?? Histogram.ExponentialBuckets(0.001, 2, 15),
            }), labelNames);
        }
        return null;
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_sinks.TryGetValue(instrument, out var sink))
            return;
        var values = new string[sink.LabelNames.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = "";
            foreach (var tag in tags)
                if (tag.Key == sink.LabelNames[i])
                    values[i] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        }
        switch (sink.Collector)
        {
            case Counter counter:
                ICounter child = values.Length == 0 ? counter : counter.WithLabels(values);
                if (sink.Kind == Kind.IncreaseTo)
                    child.IncTo(value);
                else
                    child.Inc(value);
                break;
            case Gauge gauge:
                IGauge gaugeChild = values.Length == 0 ? gauge : gauge.WithLabels(values);
                if (sink.Kind == Kind.Set)
                    gaugeChild.Set(value);
                else
                    gaugeChild.Inc(value);
                break;
            case Histogram histogram:
                (values.Length == 0 ? (IHistogram)histogram : histogram.WithLabels(values)).Observe(value);
                break;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }
}
