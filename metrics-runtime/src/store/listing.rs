//! How the writers read a store: every family in exposition order, and each sample's
//! labels by name, for the contract's families and those named at run time alike.

use crate::contract::Spec;
use crate::store::families::exposed::Sample;
use crate::store::families::Listed;
use crate::store::{LabelSource, Store};

impl Store {
    /// The name of the label `source` of a series of `spec`.
    pub(crate) fn label_name<'a>(&'a self, spec: &Spec, source: LabelSource) -> &'a str {
        match source {
            LabelSource::Own(i) => spec.labels[i],
            LabelSource::Const(j) => &self.const_labels[j].0,
        }
    }

    /// The labels of a series of `spec` with `values` under the spec's label names, in
    /// [`Store::label_order`]. The exposition renders them once per series; the
    /// `prometheus` bridge turns them into label pairs.
    pub(crate) fn label_pairs<'a>(
        &'a self,
        spec: &Spec,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&'a str, &'a str)> {
        let values: Vec<&str> = values.into_iter().collect();
        self.label_order(spec)
            .iter()
            .filter_map(|&source| {
                let value = match source {
                    LabelSource::Own(i) => *values.get(i)?,
                    LabelSource::Const(j) => &self.const_labels[j].1,
                };
                Some((self.label_name(spec, source), value))
            })
            .collect()
    }

    /// Calls `f` with every storage and its families, in exposition order: the
    /// contract's, then the families named at run time (the `metrics` facade's).
    pub(crate) fn each_listed(&self, f: &mut dyn FnMut(&Listed<'_>)) {
        for listed in self.families.listing(&self.buckets, &self.names) {
            f(&listed);
        }
        #[cfg(feature = "recorder")]
        self.named.each_listed(f);
    }

    /// Calls `f(name, value)` for each label of a sample of `listed`: in
    /// [`Store::label_order`], or as a series named at run time keeps them. What the
    /// binary writers (protobuf, OTLP) and the bridge send.
    pub(crate) fn sample_labels(
        &self,
        listed: &Listed<'_>,
        sample: &Sample<'_>,
        f: &mut dyn FnMut(&str, &str),
    ) {
        if let Some(pairs) = sample.pairs {
            for (name, value) in pairs {
                f(name, value);
            }
            return;
        }
        let Some(spec) = listed.specs.get(listed.part(sample.part)) else {
            return;
        };
        for &source in self.label_order(spec) {
            let value = match source {
                // The last label may be one the series does not keep (`status`).
                LabelSource::Own(i) => sample
                    .values
                    .get(i)
                    .map(|v| &**v)
                    .or(sample.last)
                    .unwrap_or(""),
                LabelSource::Const(j) => &self.const_labels[j].1,
            };
            f(self.label_name(spec, source), value);
        }
    }
}
