import CoreMetrics
import Prometheus

/// A swift-metrics factory over one server's own `PrometheusCollectorRegistry` that gives every
/// metric the help text of its catalogue entry.
///
/// swift-prometheus' own `PrometheusMetricsFactory` registers everything without `# HELP`, which
/// `promtool check metrics` reports as a lint problem, and the registry refuses (traps on) one
/// name registered with two help texts, so the texts must come from one place: `MetricCatalog`.
/// Nothing here touches `MetricsSystem.bootstrap`: that is process-wide and may run only once,
/// and a test process starts many servers, each with a registry of its own.
struct PrometheusHelpFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        let entry = MetricCatalog.entry(label)
        return MetricNameDescriptor(metricName: label, unitName: "", helpText: entry?.help ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.registry.makeCounter(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        self.registry.makeCounter(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return self.registry.makeGauge(descriptor: self.descriptor(label), labels: dimensions) }
        return self.registry.makeValueHistogram(
            descriptor: self.descriptor(label), labels: dimensions, buckets: MetricCatalog.entry(label)?.valueBuckets ?? [1, 10, 100, 1000])
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.registry.makeGauge(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        self.registry.makeDurationHistogram(
            descriptor: self.descriptor(label), labels: dimensions, buckets: MetricCatalog.entry(label)?.durationBuckets ?? MetricCatalog.latencyBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { self.registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { self.registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { self.registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { self.registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { self.registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { self.registry.unregisterDurationHistogram(histogram) }
    }
}
